"""What the quality benchmarks share: running every method at every budget on the same items,
its-hub's best-of-N behind our reference model, and the summary (bootstrap intervals, markdown
table, plots)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hia import AsyncAligner, Goal
from hia.objectives import OBJECTIVES, all_rewards, get_objective
from hia.optimizer import goal_conditioned_prompt
from hia.rewards.base import ReferenceRewardModel

METHODS = ("greedy", "best_of_n", "beam", "hia_greedy", "hia_beam", "its_hub_best_of_n")
REWARDS = tuple(OBJECTIVES)


def add_run_args(parser: argparse.ArgumentParser, *, items: int, max_prompt_words: int, results: Path) -> None:
    """The options every quality benchmark takes."""
    parser.add_argument("--quick", action="store_true", help="2 items, budgets 1 and 2, short answers")
    parser.add_argument("--items", type=int, default=items)
    parser.add_argument("--budgets", default="1,2,4,8")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--max-prompt-words", type=int, default=max_prompt_words)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=results)


def apply_quick(args: argparse.Namespace) -> None:
    if args.quick:
        args.items, args.budgets, args.max_tokens = 2, "1,2", 32


@dataclass
class BenchItem:
    id: str
    prompt: str
    goal: Goal


def its_hub_lm(base_url: str, model: str, max_tokens: int, temperature: float = 0.7) -> Any:
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


async def run_its_hub(lm: Any, reference: ReferenceRewardModel, item: BenchItem, budget: int, objective: str) -> dict:
    from its_hub import BestOfN

    start = time.perf_counter()
    result = await BestOfN(its_hub_orm(reference, item.prompt, item.goal, objective)).ainfer(
        lm, goal_conditioned_prompt(item.prompt, item.goal), budget, return_response_only=False)
    answer = str(result.the_one.get("content") or "")
    scores = dict(zip(item.goal.attributes, map(float, reference.score([item.prompt], [answer], item.goal.attributes)[0])))
    usage = result.usage
    return {"rewards": all_rewards(scores, item.goal), "scores": scores, "policy_calls": len(result.responses),
            "optimizer_calls": 0, "prompt_tokens": getattr(usage, "prompt_tokens", 0),
            "completion_tokens": getattr(usage, "completion_tokens", 0), "wall_s": time.perf_counter() - start,
            "stage_seconds": {}, "response": answer}


async def run_hia(aligner: AsyncAligner, item: BenchItem, method: str, budget: int) -> dict:
    result = await aligner.align(item.prompt, item.goal, budget=budget, method=method)
    chosen = result.chosen
    scores = chosen.evaluation.scores if chosen and chosen.evaluation else {}
    u = result.usage
    return {"rewards": chosen.evaluation.rewards if scores else None, "scores": scores,
            "policy_calls": u.policy_calls, "optimizer_calls": u.optimizer_calls, "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens, "wall_s": u.wall_seconds,
            "stage_seconds": dict(u.stage_seconds), "response": result.response}


def _rows_on_disk(rows_path: Path) -> dict[tuple, dict]:
    if not rows_path.exists():
        return {}
    rows = (json.loads(line) for line in rows_path.read_text().splitlines())
    return {(row["item"], row["method"], row["budget"]): row for row in rows}


def _keys(items: Sequence[BenchItem], methods: Sequence[str], budgets: Sequence[int]) -> list[tuple]:
    return [(item.id, method, budget) for item in items for method in methods for budget in budgets]


def finished_rows(items: Sequence[BenchItem], methods: Sequence[str], budgets: Sequence[int],
                  rows_path: Path) -> list[dict] | None:
    """The rows of a run that is already complete, or None when something is left to run."""
    done = _rows_on_disk(rows_path)
    keys = _keys(items, methods, budgets)
    return [done[key] for key in keys] if all(key in done for key in keys) else None


async def run_on_local_models(items: Sequence[BenchItem], methods: Sequence[str], budgets: Sequence[int], *,
                              reference: ReferenceRewardModel, rows_path: Path, max_tokens: int, objective: str,
                              heuristic: Any = None) -> list[dict]:
    """Every (item, method, budget) on the embedded local models, resuming from `rows_path`. A run
    that is already complete is returned as it is, without starting the models, so re-summarising
    costs nothing. Online learning is off, so no method's answers teach the heuristic of another."""
    rows = finished_rows(items, methods, budgets, rows_path)
    if rows is not None:
        return rows
    from hia import AsyncChatPolicy, LLMOptimizer
    from hia.local import LocalModels

    with LocalModels() as local:
        policy = AsyncChatPolicy(local.policy.alias, base_url=local.policy.base_url, max_tokens=max_tokens)
        optimizer = LLMOptimizer(local.optimizer.alias, base_url=local.optimizer.base_url)
        aligner = AsyncAligner(policy, reference, optimizer=optimizer, heuristic=heuristic, online_learning=False,
                               objective=objective)
        its_lm = its_hub_lm(local.policy.base_url, local.policy.alias, max_tokens)
        try:
            return await run_all(items, methods, budgets, aligner=aligner, its_lm=its_lm, reference=reference,
                                 objective=objective, rows_path=rows_path)
        finally:
            await its_lm.close_session()


async def run_all(items: Sequence[BenchItem], methods: Sequence[str], budgets: Sequence[int], *, aligner: AsyncAligner,
                  its_lm: Any, reference: ReferenceRewardModel, objective: str, rows_path: Path) -> list[dict]:
    """Every (item, method, budget), one JSONL row each as it finishes; rows already there are kept."""
    done = _rows_on_disk(rows_path)
    # The file may hold rows of a larger or different run; summarise only what was asked for.
    rows = [done[key] for key in _keys(items, methods, budgets) if key in done]
    with rows_path.open("a") as out:
        for item in items:
            for method in methods:
                for budget in budgets:
                    if (item.id, method, budget) in done:
                        continue
                    if method == "its_hub_best_of_n":
                        row = await run_its_hub(its_lm, reference, item, budget, objective)
                    else:
                        row = await run_hia(aligner, item, method, budget)
                    row.update(item=item.id, method=method, budget=budget, goal=str(item.goal))
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                    rows.append(row)
    return rows


def bootstrap(values: Sequence[float], *, resamples: int = 2000, seed: int = 0) -> tuple[float, list[float]]:
    data = np.asarray(values, dtype=float)
    if len(data) == 0:
        return float("nan"), [float("nan"), float("nan")]
    means = np.random.default_rng(seed).choice(data, size=(resamples, len(data))).mean(axis=1)
    return round(float(data.mean()), 4), [round(float(x), 4) for x in np.percentile(means, [2.5, 97.5])]


def summarise(rows: Sequence[dict], methods: Sequence[str], budgets: Sequence[int]) -> dict:
    table: dict[str, dict[str, dict]] = {}
    for method in methods:
        for budget in budgets:
            chosen = [r for r in rows if r["method"] == method and r["budget"] == budget and r["rewards"]]
            if not chosen:
                continue
            cell: dict[str, Any] = {}
            for name in REWARDS:
                mean, ci = bootstrap([r["rewards"][name] for r in chosen])
                cell[name] = {"mean": mean, "ci95": ci}
            cell["policy_calls"] = round(float(np.mean([r["policy_calls"] for r in chosen])), 3)
            cell["optimizer_calls"] = round(float(np.mean([r["optimizer_calls"] for r in chosen])), 3)
            cell["tokens"] = round(float(np.mean([r["prompt_tokens"] + r["completion_tokens"] for r in chosen])), 1)
            cell["wall_s"] = round(float(np.mean([r["wall_s"] for r in chosen])), 3)
            stages = {s for r in chosen for s in r["stage_seconds"]}
            cell["stage_seconds"] = {s: round(float(np.mean([r["stage_seconds"].get(s, 0.0) for r in chosen])), 3)
                                     for s in sorted(stages)}
            cell["items"] = len(chosen)
            table.setdefault(method, {})[str(budget)] = cell
    return table


STAGES = ("optimize", "filter", "policy", "reward")


def markdown(table: dict, budgets: Sequence[int]) -> str:
    lines = ["| method | budget | euclidean (95% CI) | max_error (95% CI) | goal_completion (95% CI) | policy calls "
             "| optimizer calls | tokens | wall s | optimize / filter / policy / reward s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for method, cells in table.items():
        for budget in budgets:
            c = cells.get(str(budget))
            if c is None:
                continue
            parts = [f"{c[n]['mean']:.3f} ({c[n]['ci95'][0]:.3f}, {c[n]['ci95'][1]:.3f})" for n in REWARDS]
            # its-hub does not report stages; its time is all its own
            stages = " / ".join(f"{c['stage_seconds'].get(s, 0.0):.1f}" for s in STAGES) if c["stage_seconds"] else "n/a"
            lines.append(f"| {method} | {budget} | " + " | ".join(parts) + f" | {c['policy_calls']:.2f} "
                         f"| {c['optimizer_calls']:.2f} | {c['tokens']:.0f} | {c['wall_s']:.1f} | {stages} |")
    return "\n".join(lines) + "\n"


HIA_METHODS = ("hia_greedy", "hia_beam")


def paired_difference(rows: Sequence[dict], first: tuple[str, int], second: tuple[str, int], reward: str) -> dict:
    """Mean over items of `first` minus `second` on one reward, with a bootstrap 95% interval.

    Items differ far more from each other than methods do, so intervals on the two means overlap
    almost always; pairing by item is the fairer test of whether one method is ahead."""
    def by_item(method: str, budget: int) -> dict:
        return {r["item"]: r["rewards"][reward] for r in rows if r["method"] == method and r["budget"] == budget and r["rewards"]}

    a, b = by_item(*first), by_item(*second)
    mean, ci = bootstrap([a[i] - b[i] for i in sorted(a.keys() & b.keys())])
    return {"mean": mean, "ci95": ci}


def verdict(table: dict, budgets: Sequence[int], rows: Sequence[dict] = ()) -> dict:
    """The two questions the benchmark exists to answer, from the means in `table`.

    1. Does HIA at budget 2 reach best-of-N at budget 8 (mean at least as high) on each reward?
       With `rows`, the per-item paired difference and its interval say how sure that is.
    2. Is each HIA variant at least as good as every non-HIA method at every budget and reward?
       Every comparison it loses is listed, so the answer can be read, not just trusted."""
    against_bon8: dict[str, dict] = {}
    bon8 = table.get("best_of_n", {}).get("8")
    for method in HIA_METHODS:
        cell = table.get(method, {}).get("2")
        if cell and bon8:
            against_bon8[method] = {name: {"hia_at_2": cell[name]["mean"], "best_of_n_at_8": bon8[name]["mean"],
                                           "reaches": cell[name]["mean"] >= bon8[name]["mean"]} for name in REWARDS}
            if rows:
                for name in REWARDS:
                    against_bon8[method][name]["paired_difference"] = paired_difference(
                        rows, (method, 2), ("best_of_n", 8), name)
    beats: dict[str, dict] = {}
    for method in HIA_METHODS:
        if method not in table:
            continue
        losses = []
        for budget in budgets:
            cell = table[method].get(str(budget))
            for other, cells in table.items():
                rival = cells.get(str(budget))
                if other in HIA_METHODS or cell is None or rival is None:
                    continue
                losses += [f"{other}@{budget} {name} {rival[name]['mean']:.3f} > {cell[name]['mean']:.3f}"
                           for name in REWARDS if rival[name]["mean"] > cell[name]["mean"]]
        beats[method] = {"at_least_as_good_everywhere": not losses, "losses": losses}
    return {"hia_at_2_vs_best_of_n_at_8": against_bon8, "hia_vs_every_other_method": beats}


def verdict_text(found: dict) -> str:
    lines = []
    for method, per_reward in found["hia_at_2_vs_best_of_n_at_8"].items():
        parts = [f"{name} {r['hia_at_2']:.3f} vs {r['best_of_n_at_8']:.3f} ({'reaches' if r['reaches'] else 'does not reach'}"
                 + (", paired difference {mean:+.3f}, 95% CI {ci95[0]:+.3f} to {ci95[1]:+.3f})".format(**r["paired_difference"])
                    if "paired_difference" in r else ")")
                 for name, r in per_reward.items()]
        lines.append(f"- {method} at budget 2 against best_of_n at budget 8: " + "; ".join(parts))
    for method, result in found["hia_vs_every_other_method"].items():
        if result["at_least_as_good_everywhere"]:
            lines.append(f"- {method} is at least as good as every other method at every budget on every reward")
        else:
            lines.append(f"- {method} loses {len(result['losses'])} comparisons: " + "; ".join(result["losses"]))
    return "\n".join(lines) + "\n"


def write_outputs(name: str, rows: Sequence[dict], methods: Sequence[str], budgets: Sequence[int], out_dir: Path,
                  **details: Any) -> dict:
    """Summary JSON, markdown table with the verdict, and plots under `out_dir`, named after `name`."""
    table = summarise(rows, methods, budgets)
    found = verdict(table, budgets, rows)
    summary = {"methods": table, "verdict": found, "budgets": list(budgets),
               "rows_wall_s": round(sum(r["wall_s"] for r in rows), 1), **details,
               "command": " ".join([Path(sys.executable).name, *sys.argv]),
               "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, no GPU; embedded local models"}
    (out_dir / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = markdown(table, budgets) + "\n" + verdict_text(found)
    (out_dir / f"{name}.md").write_text(text)
    plots = plot(table, budgets, out_dir / name)
    print(text)
    print(f"wrote {out_dir / (name + '.json')}, {name}.md, {', '.join(p.name for p in plots)}")
    return summary


def plot(table: dict, budgets: Sequence[int], path_prefix: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name in REWARDS:
        fig, ax = plt.subplots(figsize=(6, 4))
        for index, (method, cells) in enumerate(table.items()):
            xs = [b for b in budgets if str(b) in cells]
            means = [cells[str(b)][name]["mean"] for b in xs]
            low = [cells[str(b)][name]["mean"] - cells[str(b)][name]["ci95"][0] for b in xs]
            high = [cells[str(b)][name]["ci95"][1] - cells[str(b)][name]["mean"] for b in xs]
            shift = 2 ** (0.04 * (index - (len(table) - 1) / 2))  # side by side, so every interval shows
            ax.errorbar([x * shift for x in xs], means, yerr=[low, high], marker="o", capsize=3, label=method)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(budgets), [str(b) for b in budgets])
        ax.set_xlabel("budget (policy calls)")
        ax.set_ylabel(f"mean {name} (higher is better)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = path_prefix.with_name(f"{path_prefix.name}_{name}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
