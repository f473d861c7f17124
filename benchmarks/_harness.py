"""What the quality benchmarks share: running the methods on the same items under each reference,
its-hub's best-of-N behind our reference models, and the summary (headline, paired bootstrap
intervals, on-topic check, markdown table, plots).

Each reference is both the judge and the chooser of its own runs: a search steered by the trained
reference is scored by the trained reference, one steered by the exact reference by the exact one.
Best-of-N's samples do not depend on the reference, so they are drawn once, nested (the first k of
the 8 samples are best-of-N at budget k), and each reference picks from them. its-hub's samples
likewise: one run, each reference picks the best of its answers, as its-hub's BestOfN would with
that reference as its outcome reward model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hia import AsyncAligner, Goal, SearchOptions
from hia import _defaults as D
from hia.core.objectives import OBJECTIVES, all_rewards, get_objective
from hia.core.results import AlignmentResult
from hia.models.optimizer import goal_conditioned_prompt
from hia.rewards.base import ReferenceRewardModel

REWARDS = tuple(OBJECTIVES)
HIA = "hia_greedy" if D.DEFAULT_METHOD == "hia" else D.DEFAULT_METHOD  # the default HIA method, fixed before any run
HEADLINE_SEARCHES = ("hia_greedy", "hia_beam")
GRID_SEARCHES = ("greedy", "beam", "hia_greedy", "hia_beam")
BON, ITS_HUB = "best_of_n", "its_hub_best_of_n"
MAX_TOKENS = 400  # at least 320, so that an answer can be long enough for a "several paragraphs" goal


def add_run_args(parser: argparse.ArgumentParser, *, items: int, max_prompt_words: int, results: Path) -> None:
    """The options every quality benchmark takes."""
    parser.add_argument("--quick", action="store_true", help="2 items, budgets 1 and 2, short answers (what the tests run)")
    parser.add_argument("--grid", action="store_true",
                        help="also plain greedy and beam, and budgets 1,2,4,8 for every search (about 3x longer per item)")
    parser.add_argument("--items", type=int, default=items)
    parser.add_argument("--budgets", default=None, help="search budgets (default 1,2,4; 1,2,4,8 with --grid)")
    parser.add_argument("--bon-budgets", default="1,2,4,8", help="best-of-N budgets, all from one nested run")
    parser.add_argument("--its-hub-budget", type=int, default=8)
    parser.add_argument("--methods", default=None, help="searches (default hia_greedy,hia_beam; all four with --grid)")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help="policy answer cap (default %(default)s)")
    parser.add_argument("--max-prompt-words", type=int, default=max_prompt_words)
    parser.add_argument("--optimizer", choices=("template", "smollm2", "qwen"), default=D.EMBEDDED_OPTIMIZER,
                        help="the embedded optimizer (default: the one hia ships, chosen in benchmarks/optimizers.py)")
    parser.add_argument("--policy", choices=("small", "medium"), default="small",
                        help="the embedded policy: small (Qwen2.5-Coder-0.5B, default here for speed) or medium "
                             "(the 1.5B that hia align starts by default); results of medium go to <name>_medium.*")
    parser.add_argument("--heuristic-file", type=Path, help="a learned heuristic from `hia calibrate` (default: the shipped heuristic)")
    parser.add_argument("--memory-dir", type=Path,
                        help="the shipped heuristic starts from the policy memory in this folder (from `hia calibrate "
                             "--memory-dir` or `benchmarks/stage2.py --save-calibration`; default: nothing learned)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=results)


def run_name(base: str, args: argparse.Namespace) -> str:
    """The file stem of a run's rows and results: one per policy, and one for a heuristic that starts
    from a calibration, so runs that differ in either never mix."""
    name = base if args.policy == "small" else f"{base}_{args.policy}"
    return f"{name}_calibrated" if args.memory_dir else name


def heuristic_name(args: argparse.Namespace) -> str:
    """Which heuristic a run's HIA used, for its results file."""
    if args.heuristic_file:
        return Path(args.heuristic_file).name
    return f"shipped, from the policy memory in {Path(args.memory_dir).name}" if args.memory_dir else "shipped"


def apply_defaults(args: argparse.Namespace) -> None:
    if args.quick:
        args.items, args.budgets, args.bon_budgets, args.its_hub_budget, args.max_tokens = 2, "1,2", "1,2", 2, 32
    args.budgets = [int(b) for b in (args.budgets or ("1,2,4,8" if args.grid else "1,2,4")).split(",")]
    args.bon_budgets = sorted({int(b) for b in args.bon_budgets.split(",")})
    args.methods = (args.methods or ",".join(GRID_SEARCHES if args.grid else HEADLINE_SEARCHES)).split(",")


@dataclass
class BenchItem:
    id: str
    prompt: str
    goals: dict[str, Goal]  # reference name -> the goal it judges (the same goal unless targets are measured)


@dataclass
class Plan:
    searches: list[str]
    budgets: list[int]
    bon_budgets: list[int]
    its_hub_budget: int
    references: dict[str, ReferenceRewardModel]
    objective: str = D.DEFAULT_OBJECTIVE
    extra: dict = field(default_factory=dict)

    def keys(self, item: BenchItem) -> list[tuple]:
        keys = [(item.id, BON, b, r) for r in self.references for b in self.bon_budgets]
        keys += [(item.id, ITS_HUB, self.its_hub_budget, r) for r in self.references if self.its_hub_budget]
        keys += [(item.id, m, b, r) for r in self.references for m in self.searches for b in self.budgets]
        return keys


# -- running ------------------------------------------------------------------------------------

def its_hub_lm(base_url: str, model: str, max_tokens: int, temperature: float = D.POLICY_TEMPERATURE) -> Any:
    """its-hub's OpenAI-compatible LM, with its length cap sent the way llama.cpp's server reads it.

    its-hub sends `max_completion_tokens`; llama-cpp-python's server reads only `max_tokens` and
    would otherwise write up to the context length, so both are sent: its-hub's answers are then
    capped like every other method's."""
    from its_hub import OpenAICompatibleLanguageModel

    class CappedLM(OpenAICompatibleLanguageModel):
        def _prepare_request_data(self, *args: Any, **kwargs: Any) -> dict:
            data = super()._prepare_request_data(*args, **kwargs)
            if "max_completion_tokens" in data:
                data["max_tokens"] = data["max_completion_tokens"]
            return data

    return CappedLM(endpoint=base_url, api_key="not-needed", model_name=model, max_completion_tokens=max_tokens,
                    temperature=temperature)


def its_hub_orm(reference: ReferenceRewardModel, prompt: str, goal: Goal, objective: str) -> Any:
    """Our reference model and objective behind its-hub's outcome-reward-model interface."""
    from its_hub import AbstractOutcomeRewardModel

    class GoalReward(AbstractOutcomeRewardModel):
        def _answers(self, conversations: Any) -> list[str]:
            batch = conversations if conversations and isinstance(conversations[0], list) else [conversations]
            return [str((c[-1]["content"] if isinstance(c[-1], dict) else c[-1].content) or "") for c in batch]

        def score(self, conversations: Any, **kwargs: Any) -> list[float]:
            answers = self._answers(conversations)
            scores = reference.score([prompt] * len(answers), answers, goal.attributes)
            fn = get_objective(objective)
            return [fn(dict(zip(goal.attributes, row)), goal) for row in scores]

        async def ascore(self, conversations: Any, orchestrator: Any = None, **kwargs: Any) -> list[float]:
            return self.score(conversations)

    return GoalReward()


def pick(reference: ReferenceRewardModel, prompt: str, goal: Goal, answers: Sequence[str], objective: str) -> tuple[int, dict]:
    """The index of the answer `reference` rates best against `goal` (earliest on a tie), with its scores."""
    rows = reference.score([prompt] * len(answers), list(answers), goal.attributes)
    scored = [dict(zip(goal.attributes, map(float, row))) for row in rows]
    fn = get_objective(objective)
    best = max(range(len(answers)), key=lambda i: (fn(scored[i], goal), -i))
    return best, scored[best]


def on_topic(embedder: Any, prompt: str, answer: str | None) -> float | None:
    """Cosine similarity of an answer to the user's question: an answer to another question scores low."""
    if not answer:
        return None
    question, reply = embedder.embed([prompt, answer])
    return round(float(question @ reply), 4)


def _row(item: BenchItem, method: str, budget: int, reference: str, answer: str | None, scores: dict, **extra: Any) -> dict:
    goal = item.goals[reference]
    return {"item": item.id, "method": method, "budget": budget, "reference": reference, "goal": str(goal),
            "rewards": all_rewards(scores, goal) if scores else None, "scores": scores, "response": answer, **extra}


def search_row(item: BenchItem, method: str, budget: int, reference: str, result: AlignmentResult, embedder: Any) -> dict:
    chosen = result.chosen
    scores = chosen.evaluation.scores if chosen and chosen.evaluation else {}
    proposed = [c for c in result.candidates if c.source == "optimizer"]
    u = result.usage
    return _row(item, method, budget, reference, result.response, scores,
                policy_calls=u.policy_calls, optimizer_calls=u.optimizer_calls, prompt_tokens=u.prompt_tokens,
                completion_tokens=u.completion_tokens, wall_s=round(u.wall_seconds, 3),
                stage_seconds={k: round(v, 3) for k, v in u.stage_seconds.items()},
                chosen_source=chosen.source if chosen else None,
                proposed=len(proposed), passed_stage1=sum(c.dropped_by != "stage1" for c in proposed),
                on_topic=on_topic(embedder, item.prompt, result.response))


async def best_of_n_rows(item: BenchItem, plan: Plan, aligners: dict[str, AsyncAligner], embedder: Any) -> list[dict]:
    """One best-of-N run of the largest budget; budget k is its first k samples, picked by each reference."""
    first = next(iter(plan.references))
    n = max(plan.bon_budgets)
    result = await aligners[first].align(item.prompt, item.goals[first], budget=n, method=BON)
    samples = sorted((c for c in result.candidates if c.evaluation is not None), key=lambda c: c.evaluation.seed)  # type: ignore[union-attr]
    rows = []
    for name, reference in plan.references.items():
        for k in plan.bon_budgets:
            prefix = samples[:k]
            if not prefix:
                continue
            best, scores = pick(reference, item.prompt, item.goals[name], [c.evaluation.response for c in prefix],  # type: ignore[union-attr]
                                plan.objective)
            answer = prefix[best].evaluation.response  # type: ignore[union-attr]
            rows.append(_row(item, BON, k, name, answer, scores, policy_calls=len(prefix), optimizer_calls=0,
                             prompt_tokens=sum(c.evaluation.prompt_tokens for c in prefix),  # type: ignore[union-attr]
                             completion_tokens=sum(c.evaluation.completion_tokens for c in prefix),  # type: ignore[union-attr]
                             wall_s=round(result.usage.wall_seconds * len(prefix) / max(1, len(samples)), 3),
                             stage_seconds={}, derived_from=f"{BON}@{n}" if k != n else None, chosen_source="seed",
                             on_topic=on_topic(embedder, item.prompt, answer)))
    return rows


async def its_hub_rows(item: BenchItem, plan: Plan, lm: Any, embedder: Any) -> list[dict]:
    from its_hub import BestOfN

    first = next(iter(plan.references))
    start = time.perf_counter()
    orm = its_hub_orm(plan.references[first], item.prompt, item.goals[first], plan.objective)
    result = await BestOfN(orm).ainfer(lm, goal_conditioned_prompt(item.prompt, item.goals[first]), plan.its_hub_budget,
                                       return_response_only=False)
    wall = time.perf_counter() - start
    answers = [str((r.get("content") if isinstance(r, dict) else getattr(r, "content", r)) or "") for r in result.responses]
    usage = result.usage
    rows = []
    for name, reference in plan.references.items():
        best, scores = pick(reference, item.prompt, item.goals[name], answers, plan.objective)
        rows.append(_row(item, ITS_HUB, plan.its_hub_budget, name, answers[best], scores, policy_calls=len(answers),
                         optimizer_calls=0, prompt_tokens=getattr(usage, "prompt_tokens", 0),
                         completion_tokens=getattr(usage, "completion_tokens", 0), wall_s=round(wall, 3),
                         stage_seconds={}, chosen_source="seed", on_topic=on_topic(embedder, item.prompt, answers[best])))
    return rows


def _rows_on_disk(rows_path: Path) -> dict[tuple, dict]:
    if not rows_path.exists():
        return {}
    rows = (json.loads(line) for line in rows_path.read_text().splitlines() if line.strip())
    return {(r["item"], r["method"], r["budget"], r.get("reference")): r for r in rows}


def finished_rows(items: Sequence[BenchItem], plan: Plan, rows_path: Path) -> list[dict] | None:
    """The rows of a run that is already complete, or None when something is left to run."""
    done = _rows_on_disk(rows_path)
    keys = [k for item in items for k in plan.keys(item)]
    return [done[k] for k in keys] if all(k in done for k in keys) else None


async def run_all(items: Sequence[BenchItem], plan: Plan, *, aligners: dict[str, AsyncAligner], its_lm: Any,
                  rows_path: Path, embedder: Any) -> list[dict]:
    """Every planned row, written to `rows_path` as it finishes; rows already there are kept, so an
    interrupted run resumes where it stopped."""
    from tqdm import tqdm

    done = _rows_on_disk(rows_path)
    with rows_path.open("a") as out, tqdm(total=len(items), desc="items", unit="item") as bar:
        def write(rows: list[dict]) -> None:
            for row in rows:
                key = (row["item"], row["method"], row["budget"], row["reference"])
                if key not in done:
                    out.write(json.dumps(row) + "\n")
                    done[key] = row
            out.flush()

        for item in items:
            missing = [k for k in plan.keys(item) if k not in done]
            if any(k[1] == BON for k in missing):
                write(await best_of_n_rows(item, plan, aligners, embedder))
            if any(k[1] == ITS_HUB for k in missing):
                write(await its_hub_rows(item, plan, its_lm, embedder))
            for name in plan.references:
                for method in plan.searches:
                    for budget in plan.budgets:
                        if (item.id, method, budget, name) in done:
                            continue
                        result = await aligners[name].align(item.prompt, item.goals[name], budget=budget, method=method)
                        write([search_row(item, method, budget, name, result, embedder)])
            bar.update(1)
    return [done[k] for item in items for k in plan.keys(item) if k in done]


async def run_on_local_models(items: Sequence[BenchItem], plan: Plan, *, rows_path: Path, max_tokens: int,
                              optimizer: str, policy: str = "small", heuristic_file: Path | None = None,
                              memory_dir: Path | None = None) -> list[dict]:
    """Every planned row on the embedded local models, resuming from `rows_path`. A run that is
    already complete is returned as it is, without starting the models, so re-summarising costs
    nothing. Online learning is off, so no answer teaches the heuristic used for another."""
    rows = finished_rows(items, plan, rows_path)
    if rows is not None:
        return rows
    from hia.build import Endpoint, Settings, build, build_policy
    from hia.models.embeddings import shared_embedder
    from hia.models.local import LocalModels

    embedder = shared_embedder()
    with LocalModels(optimizer, policy) as local:
        policy = build_policy(Endpoint(local.policy.base_url, local.policy.alias), blocking=False, max_tokens=max_tokens)
        rewriter = Endpoint(local.optimizer.base_url, local.optimizer.alias) if local.optimizer is not None else None
        search = SearchOptions(online_learning=False, objective=plan.objective)
        # Nothing remembered from earlier runs, unless memory_dir names what a calibration taught:
        # the shipped heuristic then starts from it (and, online learning off, adds nothing to it).
        pipeline = build(Settings(optimizer=rewriter, heuristic_file=str(heuristic_file) if heuristic_file else None,
                                  remember_policy=memory_dir is not None, memory_dir=str(memory_dir) if memory_dir else None,
                                  search=search))
        # each reference steers its own runs; everything else is the pipeline hia builds for any caller
        aligners = {name: pipeline.async_aligner(policy, reference=reference) for name, reference in plan.references.items()}
        its_lm = its_hub_lm(local.policy.base_url, local.policy.alias, max_tokens) if plan.its_hub_budget else None
        try:
            return await run_all(items, plan, aligners=aligners, its_lm=its_lm, rows_path=rows_path, embedder=embedder)
        finally:
            await policy.close()
            pipeline.close()
            if its_lm is not None:
                await its_lm.close_session()


# -- summarising --------------------------------------------------------------------------------

def bootstrap(values: Sequence[float], *, resamples: int = 2000, seed: int = 0) -> tuple[float, list[float]]:
    data = np.asarray(values, dtype=float)
    if len(data) == 0:
        return float("nan"), [float("nan"), float("nan")]
    means = np.random.default_rng(seed).choice(data, size=(resamples, len(data))).mean(axis=1)
    return round(float(data.mean()), 4), [round(float(x), 4) for x in np.percentile(means, [2.5, 97.5])]


def _cells(rows: Sequence[dict], reference: str) -> dict[tuple[str, int], list[dict]]:
    cells: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        if r.get("reference") == reference and r["rewards"]:
            cells.setdefault((r["method"], r["budget"]), []).append(r)
    return cells


def summarise(rows: Sequence[dict], reference: str) -> dict:
    """method -> budget -> means with 95% bootstrap intervals, cost and the on-topic similarity."""
    table: dict[str, dict[str, dict]] = {}
    for (method, budget), chosen in sorted(_cells(rows, reference).items(), key=lambda kv: (kv[0][0], kv[0][1])):
        cell: dict[str, Any] = {}
        for name in REWARDS:
            mean, ci = bootstrap([r["rewards"][name] for r in chosen])
            cell[name] = {"mean": mean, "ci95": ci}
        for key in ("policy_calls", "optimizer_calls", "wall_s"):
            cell[key] = round(float(np.mean([r[key] for r in chosen])), 3)
        cell["tokens"] = round(float(np.mean([r["prompt_tokens"] + r["completion_tokens"] for r in chosen])), 1)
        stages = {s for r in chosen for s in r["stage_seconds"]}
        cell["stage_seconds"] = {s: round(float(np.mean([r["stage_seconds"].get(s, 0.0) for r in chosen])), 3)
                                 for s in sorted(stages)}
        topical = [r["on_topic"] for r in chosen if r.get("on_topic") is not None]
        cell["on_topic"] = round(float(np.mean(topical)), 4) if topical else None
        proposed = sum(r.get("proposed", 0) for r in chosen)
        if proposed:
            cell["stage1_pass_share"] = round(sum(r.get("passed_stage1", 0) for r in chosen) / proposed, 3)
        cell["items"] = len(chosen)
        table.setdefault(method, {})[str(budget)] = cell
    return table


def paired_difference(rows: Sequence[dict], reference: str, first: tuple[str, int], second: tuple[str, int],
                      field_name: str = "euclidean") -> dict:
    """Mean over items of `first` minus `second`, with a bootstrap 95% interval.

    Items differ far more from each other than methods do, so intervals on the two means overlap
    almost always; pairing by item is the fairer test of whether one method is ahead."""
    def by_item(method: str, budget: int) -> dict:
        out = {}
        for r in rows:
            if r.get("reference") == reference and r["method"] == method and r["budget"] == budget and r["rewards"]:
                value = r["rewards"][field_name] if field_name in REWARDS else r.get(field_name)
                if value is not None:
                    out[r["item"]] = value
        return out

    a, b = by_item(*first), by_item(*second)
    common = sorted(a.keys() & b.keys())
    mean, ci = bootstrap([a[i] - b[i] for i in common])
    return {"mean": mean, "ci95": ci, "items": len(common)}


def headline(rows: Sequence[dict], table: dict, reference: str, its_hub_budget: int) -> dict:
    """The comparison the benchmark exists for: the default HIA method at budgets 1 and 2 against
    best-of-N at 1 and 8 (and its-hub's best-of-N), with per-item paired differences."""
    def mean(method: str, budget: int) -> float | None:
        cell = table.get(method, {}).get(str(budget))
        return cell["euclidean"]["mean"] if cell else None

    out: dict[str, Any] = {"hia_method": HIA}
    for label, method, budget in (("hia@1", HIA, 1), ("hia@2", HIA, 2), ("hia@4", HIA, 4), ("best_of_n@1", BON, 1),
                                  ("best_of_n@2", BON, 2), ("best_of_n@4", BON, 4), ("best_of_n@8", BON, 8),
                                  (f"its_hub_best_of_n@{its_hub_budget}", ITS_HUB, its_hub_budget)):
        out[label] = mean(method, budget)
    for method in HEADLINE_SEARCHES:
        for budget in (1, 2):
            out.setdefault(f"{method}@{budget}", mean(method, budget))
    out["hia@2 - best_of_n@8"] = paired_difference(rows, reference, (HIA, 2), (BON, 8))
    for k in (1, 2, 4):  # equal budgets, as the paper claims them
        out[f"hia@{k} - best_of_n@{k}"] = paired_difference(rows, reference, (HIA, k), (BON, k))
    out["hia_beam@2 - best_of_n@8"] = paired_difference(rows, reference, ("hia_beam", 2), (BON, 8))
    out[f"hia@2 - its_hub_best_of_n@{its_hub_budget}"] = paired_difference(rows, reference, (HIA, 2), (ITS_HUB, its_hub_budget))
    out["on_topic: hia@2 - best_of_n@8"] = paired_difference(rows, reference, (HIA, 2), (BON, 8), "on_topic")
    out["targets"] = {
        "hia@2 >= best_of_n@8": None if out["hia@2"] is None or out["best_of_n@8"] is None else out["hia@2"] >= out["best_of_n@8"],
        "hia@1 >= best_of_n@1": None if out["hia@1"] is None or out["best_of_n@1"] is None else out["hia@1"] >= out["best_of_n@1"],
        **{f"hia@{k} > best_of_n@{k}, interval above zero": None if not out[f"hia@{k} - best_of_n@{k}"]["items"]
           else bool(out[f"hia@{k} - best_of_n@{k}"]["ci95"][0] > 0) for k in (1, 2)},
    }
    return out


def losses(table: dict) -> dict[str, list[str]]:
    """Every (budget, reward) at which an HIA variant's mean is below some other method's at the same budget."""
    found: dict[str, list[str]] = {}
    for method in HEADLINE_SEARCHES:
        for budget, cell in table.get(method, {}).items():
            for other, cells in table.items():
                rival = cells.get(budget)
                if other in HEADLINE_SEARCHES or rival is None:
                    continue
                found.setdefault(method, []).extend(
                    f"{other}@{budget} {name} {rival[name]['mean']:.3f} > {cell[name]['mean']:.3f}"
                    for name in REWARDS if rival[name]["mean"] > cell[name]["mean"])
    return found


STAGES = ("optimize", "filter", "policy", "reward")


def markdown(table: dict, reference: str) -> str:
    lines = [f"Reference: {reference}", "",
             "| method | budget | euclidean (95% CI) | max_error (95% CI) | goal_completion (95% CI) | on-topic "
             "| policy calls | optimizer calls | tokens | wall s | optimize / filter / policy / reward s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for method, cells in table.items():
        for budget in sorted(cells, key=int):
            c = cells[budget]
            parts = [f"{c[n]['mean']:.3f} ({c[n]['ci95'][0]:.3f}, {c[n]['ci95'][1]:.3f})" for n in REWARDS]
            # best-of-N's smaller budgets are prefixes of one run, and its-hub reports no stages
            stages = " / ".join(f"{c['stage_seconds'].get(s, 0.0):.1f}" for s in STAGES) if c["stage_seconds"] else "n/a"
            topical = f"{c['on_topic']:.3f}" if c.get("on_topic") is not None else "n/a"
            lines.append(f"| {method} | {budget} | " + " | ".join(parts) + f" | {topical} | {c['policy_calls']:.2f} "
                         f"| {c['optimizer_calls']:.2f} | {c['tokens']:.0f} | {c['wall_s']:.1f} | {stages} |")
    return "\n".join(lines) + "\n"


def headline_text(found: dict, reference: str) -> str:
    def diff(key: str) -> str:
        d = found[key]
        return f"{d['mean']:+.3f} (95% CI {d['ci95'][0]:+.3f} to {d['ci95'][1]:+.3f}, {d['items']} items)"

    h = found
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [f"Headline ({reference} reference; hia = {h['hia_method']}; euclidean, higher is better):",
             f"- hia@2 {fmt(h['hia@2'])} vs best_of_n@8 {fmt(h['best_of_n@8'])}: paired difference {diff('hia@2 - best_of_n@8')}"
             f" -> target {'met' if h['targets']['hia@2 >= best_of_n@8'] else 'missed'}",
             f"- hia@1 {fmt(h['hia@1'])} vs best_of_n@1 {fmt(h['best_of_n@1'])}: paired difference {diff('hia@1 - best_of_n@1')}"
             f" -> target {'met' if h['targets']['hia@1 >= best_of_n@1'] else 'missed'}",
             *(f"- hia@{k} - best_of_n@{k} (equal budgets): {diff(f'hia@{k} - best_of_n@{k}')}"
               for k in (2, 4) if found[f"hia@{k} - best_of_n@{k}"]["items"]),
             f"- hia_beam@2 vs best_of_n@8: {diff('hia_beam@2 - best_of_n@8')}",
             f"- on-topic similarity to the question, hia@2 minus best_of_n@8: {diff('on_topic: hia@2 - best_of_n@8')}"]
    return "\n".join(lines) + "\n"


def write_outputs(name: str, rows: Sequence[dict], plan: Plan, out_dir: Path, **details: Any) -> dict:
    """Summary JSON, markdown with the headline, and plots under `out_dir`, named after `name`."""
    tables = {ref: summarise(rows, ref) for ref in plan.references}
    heads = {ref: headline(rows, tables[ref], ref, plan.its_hub_budget) for ref in plan.references}
    summary = {"headline": heads, "methods": tables, "hia_losses": {ref: losses(t) for ref, t in tables.items()},
               "searches": plan.searches, "budgets": plan.budgets, "bon_budgets": plan.bon_budgets,
               "its_hub_budget": plan.its_hub_budget, "objective_for_choosing": plan.objective,
               "rows_wall_s": round(sum(r["wall_s"] for r in rows if not r.get("derived_from")), 1), **details,
               "command": " ".join([Path(sys.executable).name, *sys.argv]),
               "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, no GPU; embedded local models"}
    (out_dir / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = "\n".join(headline_text(heads[ref], ref) + "\n" + markdown(tables[ref], ref) for ref in plan.references)
    (out_dir / f"{name}.md").write_text(text)
    plots = plot(tables, out_dir / name)
    print(text)
    print(f"wrote {out_dir / (name + '.json')}, {name}.md, {', '.join(p.name for p in plots)}")
    return summary


def plot(tables: dict[str, dict], path_prefix: Path) -> list[Path]:
    """Mean euclidean reward against budget, one panel per reference, every method side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(6 * len(tables), 4), squeeze=False)
    for ax, (reference, table) in zip(axes[0], tables.items()):
        budgets = sorted({int(b) for cells in table.values() for b in cells})
        for index, (method, cells) in enumerate(table.items()):
            xs = sorted(int(b) for b in cells)
            means = [cells[str(b)]["euclidean"]["mean"] for b in xs]
            low = [cells[str(b)]["euclidean"]["mean"] - cells[str(b)]["euclidean"]["ci95"][0] for b in xs]
            high = [cells[str(b)]["euclidean"]["ci95"][1] - cells[str(b)]["euclidean"]["mean"] for b in xs]
            shift = 2 ** (0.04 * (index - (len(table) - 1) / 2))  # side by side, so every interval shows
            ax.errorbar([x * shift for x in xs], means, yerr=[low, high], marker="o", capsize=3, label=method)
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.set_xlabel("budget (policy calls)")
        ax.set_ylabel("mean euclidean reward (higher is better)")
        ax.set_title(f"{reference} reference")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = path_prefix.with_name(f"{path_prefix.name}_euclidean.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
