"""Can choosing before the call pay, and does the heuristic choose well? A diagnostic of stage 2.

    .venv/bin/python benchmarks/stage2.py                  # 16 held-out HelpSteer items, 2 seeds per survivor
    .venv/bin/python benchmarks/stage2.py --quick          # 2 items, short answers (what the tests run)
    .venv/bin/python benchmarks/stage2.py --data path/to/helpsteer.jsonl

For each item (evaluation-split prompts and goals, drawn as benchmarks/helpsteer.py draws them),
round 1 of HIA is built as the engine builds it: the root and the template optimizer's rewrites,
through stage 1. Every survivor (up to --survivors, the root included) is answered with --seeds
seeds by the embedded policy and scored by both references. A prompt's true reward is the mean of
its answers' rewards; the oracle picks by it. Each heuristic then ranks the same survivors with
stage 2's own rule, and its pick is compared with a random survivor and with the oracle:

- spread: the mean per-item sd and max-min of the survivors' true rewards (what there is to gain);
- between_share: var(prompt means) / (var(prompt means) + mean var across one prompt's seeds),
  per item, averaged: how much of the spread a choice of prompt can reach at all;
- spearman: the within-item Spearman of predicted against true reward;
- pick_minus_random: pick's true reward minus the mean of the survivors', paired by item, with a
  bootstrap 95% interval;
- oracle_share: (pick - random) / (oracle - random), over the items where the oracle beats random;
- oracle_minus_random: the oracle's own gain, the mean over items of best minus random;
- split_seed_minus_random: choose by one seed's answers, be paid by the other seed's: what knowing
  one answer per prompt ahead would gain. The oracle chooses and is paid by the same answers, so
  its gain includes the seeds' noise; this one does not, and is a yardstick for the heuristic's.

`shipped` is the heuristic hia ships (the question prior, nothing learned about the policy yet);
`zero_shot` the untrained ZeroShotHeuristic; `calibrated` the shipped one after learning from
every answer to --calibration-items development-split items, built and answered the same way
(what `hia calibrate` or a day of use teaches it; no evaluation prompt is among them). Online
learning is off while the evaluation items are ranked. `development_cv` judges calibration on
the development items alone, each ranked by the heuristic calibrated on the others (leave one
out): the only numbers a setting of the heuristic may be chosen by. Results go to
benchmarks/results/stage2.json; the answers to stage2_rows.jsonl and, for the development items,
stage2_calibration_rows.jsonl (a rerun resumes from both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np
from _harness import BenchItem, bootstrap
from helpsteer import DEFAULT_DATA, MAX_PROMPT_WORDS, items, judgeable

from hia import TemplateOptimizer
from hia import _defaults as D
from hia.build import Endpoint, Settings, build_policy, build_reference
from hia.core.attributes import requested_levels, stated_targets
from hia.core.objectives import get_objective
from hia.core.results import Candidate
from hia.core.stats import spearman
from hia.models.embeddings import shared_embedder
from hia.models.local import EMBEDDED_POLICIES
from hia.models.optimizer import goal_conditioned_prompt
from hia.rewards.base import HeuristicRewardModel
from hia.rewards.heuristic import ZeroShotHeuristic
from hia.rewards.policy_heuristic import PolicyHeuristic
from hia.rewards.policy_memory import PolicyMemory, memory_file, policy_key
from hia.rewards.shipped import default_heuristic
from hia.search.filters import FilterSettings, stage1, stage2
from hia.storage.cache import Cache
from hia.storage.jsonl import JsonlWriter, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MAX_TOKENS = 400  # as the quality benchmarks cap answers


def round_one(item: BenchItem, embedder: object, survivors: int) -> list[Candidate]:
    """The root and round 1's template rewrites that pass stage 1, as HIA's first round makes them."""
    goal = item.goals["trained"]
    root = Candidate(id=0, prompt=goal_conditioned_prompt(item.prompt, goal), round=0, source="seed")
    rewrites = asyncio.run(TemplateOptimizer().propose(root.prompt, goal, D.HIA_CANDIDATES_PER_ROUND,
                                                       original=item.prompt))
    pool = [root] + [Candidate(id=i, prompt=p, round=1, source="optimizer") for i, p in enumerate(rewrites, 1)]
    kept = stage1(pool, item.prompt, embedder, (), FilterSettings(), root=root)  # type: ignore[arg-type]
    return [root] + [c for c in kept if c is not root][: survivors - 1]


async def answer_all(bench: list[BenchItem], pools: dict[str, list[Candidate]], seeds: int, max_tokens: int,
                     rows_path: Path, references: dict) -> list[dict]:
    """Every survivor answered `seeds` times and scored by every reference; resumes from rows_path."""
    from hia.models.local import LocalModels

    # Keyed by the prompt's text: a pool built again finds the answers its prompts already got.
    done = {(r["item"], r["prompt"], r["seed"]): r for r in (line.value for line in read_jsonl(rows_path))
            if isinstance(r, dict)} if rows_path.exists() else {}
    todo = [(item, c, s) for item in bench for c in pools[item.id] for s in range(seeds)
            if (item.id, c.prompt, s) not in done]
    if todo:
        writer = JsonlWriter(rows_path)
        with LocalModels("template", "small") as local:  # the 0.5B, as the report says, whatever hia's default
            policy = build_policy(Endpoint(local.policy.base_url, local.policy.alias), blocking=False,
                                  max_tokens=max_tokens)
            started = time.perf_counter()
            for n, (item, c, s) in enumerate(todo, 1):
                seed = D.POLICY_BASE_SEED + s
                reply = await policy.complete([{"role": "user", "content": c.prompt}], seed=seed)
                row = {"item": item.id, "candidate": c.id, "seed": s, "prompt": c.prompt, "answer": reply.text,
                       "scores": {}}
                for name, reference in references.items():
                    goal = item.goals[name]
                    scores = reference.score([item.prompt], [reply.text], goal.attributes)[0]
                    row["scores"][name] = dict(zip(goal.attributes, map(float, scores)))
                writer.write(row)
                done[(item.id, c.prompt, s)] = row
                print(f"[{n}/{len(todo)}] item {item.id} candidate {c.id} seed {s}: {len(reply.text.split())} words, "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
            await policy.close()
        writer.close()
    wanted = {(item.id, c.prompt): c.id for item in bench for c in pools[item.id]}
    return [{**r, "candidate": wanted[(r["item"], r["prompt"])]} for r in done.values() if (r["item"], r["prompt"]) in wanted]


def calibrated_heuristic(embedder: object, dev: list[BenchItem], rows: list[dict], reference: str,
                         memory: PolicyMemory | None = None) -> PolicyHeuristic:
    """The shipped heuristic, taught every development answer as online learning would teach it
    (into `memory` when one is given, as hia keeps it for a policy)."""
    heuristic = default_heuristic(embedder, memory)  # type: ignore[arg-type]
    by_id = {item.id: item for item in dev}
    for r in rows:
        item = by_id[r["item"]]
        goal = item.goals[reference]
        scores = np.array([[r["scores"][reference][a] for a in goal.attributes]])
        heuristic.update_for(item.prompt, [r["prompt"]], scores, goal.attributes)
    return heuristic


def leave_one_out(embedder: object, dev: list[BenchItem], rows: list[dict], reference: str) -> Callable[[BenchItem], PolicyHeuristic]:
    """Per development item, the heuristic calibrated on every other one: how calibration can be
    judged, and its settings chosen, without an evaluation prompt."""
    return lambda item: calibrated_heuristic(embedder, [d for d in dev if d.id != item.id],
                                             [r for r in rows if r["item"] != item.id], reference)


def split_seed_gain(per_prompt: list[list[float]]) -> float:
    """Choose by one seed's answers and be paid by the other's (both ways, averaged), minus a random
    survivor on the paying seed: what knowing one answer per prompt ahead is worth, free of the
    noise the oracle, which chooses and is paid by the same answers, fits."""
    draws = np.array([a[:2] for a in per_prompt])  # prompts x 2 seeds
    return float(np.mean([draws[np.argmax(draws[:, s]), 1 - s] - draws[:, 1 - s].mean() for s in (0, 1)]))


def measure(bench: list[BenchItem], pools: dict[str, list[Candidate]], rows: list[dict], reference: str,
            heuristics: dict[str, HeuristicRewardModel | Callable[[BenchItem], HeuristicRewardModel]],
            objective: str) -> dict:
    """Each heuristic's pick against a random survivor and the oracle. A heuristic may be given per
    item (a function of the item), as leave_one_out gives it."""
    reward = get_objective(objective)
    answers: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        goal = next(b for b in bench if b.id == r["item"]).goals[reference]
        answers.setdefault((r["item"], r["candidate"]), []).append(reward(r["scores"][reference], goal))
    out: dict = {}
    spreads, ranges, shares, split_gains, oracle_gains = [], [], [], [], []
    truth: dict[str, np.ndarray] = {}
    for item in bench:
        ids = [c.id for c in pools[item.id]]
        per_prompt = [answers.get((item.id, i), []) for i in ids]
        if len(ids) < 2 or any(len(a) < 2 for a in per_prompt):
            continue
        means = np.array([np.mean(a) for a in per_prompt])
        truth[item.id] = means
        spreads.append(float(means.std()))
        ranges.append(float(means.max() - means.min()))
        between = float(means.var())  # of the prompts' mean rewards
        within = float(np.mean([np.var(a) for a in per_prompt]))  # of one prompt's answers, across seeds
        shares.append(between / (between + within) if between + within > 0 else 0.0)
        split_gains.append(split_seed_gain(per_prompt))
        oracle_gains.append(float(means.max() - means.mean()))
    split_mean, split_ci = bootstrap(split_gains)
    for name, heuristic in heuristics.items():
        gains, oracle_shares, rhos, picks = [], [], [], []
        for item in bench:
            if item.id not in truth:
                continue
            means = truth[item.id]
            fresh = [Candidate(id=c.id, prompt=c.prompt, round=c.round, source=c.source) for c in pools[item.id]]
            ranker = heuristic if isinstance(heuristic, HeuristicRewardModel) else heuristic(item)
            chosen = stage2(fresh, item.goals[reference], ranker, reward, keep=1, question=item.prompt)[0]
            pick = means[[c.id for c in pools[item.id]].index(chosen.id)]
            random_mean, best = float(means.mean()), float(means.max())
            gains.append(pick - random_mean)
            picks.append(chosen.id)
            if best - random_mean > 1e-9:
                oracle_shares.append((pick - random_mean) / (best - random_mean))
            predicted = np.array([c.heuristic_reward for c in fresh], dtype=float)
            rho = spearman(predicted, means)
            if np.isfinite(rho):
                rhos.append(rho)
        mean, ci = bootstrap(gains)
        out[name] = {
            "n_items": len(gains),
            "spread": {"mean_sd": round(float(np.mean(spreads)), 4), "mean_max_minus_min": round(float(np.mean(ranges)), 4)},
            "between_share": round(float(np.mean(shares)), 4),
            "oracle_minus_random": round(float(np.mean(oracle_gains)), 4),
            "split_seed_minus_random": {"mean": round(split_mean, 4), "ci95": [round(v, 4) for v in split_ci]},
            "spearman": round(float(np.mean(rhos)), 4) if rhos else None,
            "spearman_items": len(rhos),
            "pick_minus_random": {"mean": round(mean, 4), "ci95": [round(v, 4) for v in ci]},
            "oracle_share": round(float(np.mean(oracle_shares)), 4) if oracle_shares else None,
            "oracle_share_items": len(oracle_shares),
            "picked_root": sum(1 for p in picks if p == 0),
        }
    return out


def obedience(rows: list[dict]) -> dict:
    """How the policy followed the verbosity level its prompt asked for (quoted or stated), as the
    exact reference measures its answers: the slope (1: follows exactly) and the mean offset."""
    asked, got = [], []
    for r in rows:
        level = {**stated_targets(r["prompt"], ["verbosity"]), **requested_levels(r["prompt"], ["verbosity"])}.get("verbosity")
        measured = r["scores"].get("exact", {}).get("verbosity")
        if level is not None and measured is not None:
            asked.append(float(level))
            got.append(measured)
    if len(set(asked)) < 2:
        return {}
    slope = float(np.polyfit(asked, got, 1)[0])
    return {"answers": len(asked), "slope": round(slope, 3), "mean_offset": round(float(np.mean(np.subtract(got, asked))), 3)}


def main(args: argparse.Namespace) -> None:
    store = Cache()
    references = {"trained": build_reference(Settings(reference="attributes"), store),
                  "exact": build_reference(Settings(reference="exact"), store)}
    attributes = [a for a in judgeable(references["trained"]) if a in references["exact"].attributes]
    bench = items(args.data, args.items, args.max_prompt_words, attributes, args.seed)
    embedder = shared_embedder()
    pools = {item.id: round_one(item, embedder, args.survivors) for item in bench}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{len(bench)} held-out items, {sum(len(p) for p in pools.values())} survivors, {args.seeds} seeds each")
    dev = items(args.data, args.calibration_items, args.max_prompt_words, attributes, args.seed, part="dev")
    dev_pools = {item.id: round_one(item, embedder, args.survivors) for item in dev}
    print(f"{len(dev)} development items to calibrate on, {sum(len(p) for p in dev_pools.values())} survivors")
    dev_rows = asyncio.run(answer_all(dev, dev_pools, args.seeds, args.max_tokens,
                                      args.out_dir / "stage2_calibration_rows.jsonl", references))
    rows = asyncio.run(answer_all(bench, pools, args.seeds, args.max_tokens, args.out_dir / "stage2_rows.jsonl",
                                  references))
    report: dict = {"n_items": len(bench), "seeds": args.seeds, "survivors_per_item": args.survivors,
                    "data": Path(args.data).name, "max_tokens": args.max_tokens, "objective": args.objective,
                    "policy": "Qwen2.5-Coder-0.5B-Instruct (embedded)", "quick": args.quick,
                    "machine": f"{platform.machine()}, {platform.system()}, {__import__('os').cpu_count()} cores",
                    "by_reference": {}, "development_cv": {}}
    report["calibration_items"] = len(dev)
    report["calibration_answers"] = len(dev_rows)
    for reference in references:
        heuristics = {"shipped": default_heuristic(embedder), "zero_shot": ZeroShotHeuristic(embedder),
                      "calibrated": calibrated_heuristic(embedder, dev, dev_rows, reference)}
        report["by_reference"][reference] = measure(bench, pools, rows, reference, heuristics, args.objective)
        # The numbers any setting of the heuristic may be chosen by: development items only.
        report["development_cv"][reference] = measure(
            dev, dev_pools, dev_rows, reference,
            {"shipped": default_heuristic(embedder),
             "calibrated_leave_one_out": leave_one_out(embedder, dev, dev_rows, reference)}, args.objective)
    report.update(report["by_reference"]["trained"])  # the trained reference is hia's default
    if args.save_calibration:  # what the development answers taught, as hia keeps it for the embedded policy
        who = policy_key("http://127.0.0.1/v1", EMBEDDED_POLICIES["small"].alias)
        target = memory_file(args.save_calibration, who)
        target.unlink(missing_ok=True)
        memory = PolicyMemory(target, policy=who)
        calibrated_heuristic(embedder, dev, dev_rows, "trained", memory)
        memory.flush()
        report["calibration_file"] = target.name
        print(f"wrote the calibrated policy memory to {target}")
    report["verbosity_obedience"] = obedience(rows)
    path = args.out_dir / "stage2.json"
    path.write_text(json.dumps(report, indent=2))
    for reference, found in [*report["by_reference"].items(),
                             *((f"{r} (development, leave one out)", f) for r, f in report["development_cv"].items())]:
        for name, m in found.items():
            print(f"{reference:<8} {name:<10} pick-random {m['pick_minus_random']['mean']:+.3f} "
                  f"{m['pick_minus_random']['ci95']}, oracle share {m['oracle_share']}, spearman {m['spearman']}, "
                  f"between share {m['between_share']}, spread sd {m['spread']['mean_sd']}, "
                  f"oracle {m['oracle_minus_random']:+.3f}, split-seed choice {m['split_seed_minus_random']['mean']:+.3f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a HelpSteer or HelpSteer2 file with ratings")
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--save-calibration", type=Path,
                        help="a folder: keep what the development answers taught (trained reference) as the policy "
                             "memory of the embedded 0.5B, for the quality benchmarks' --memory-dir")
    parser.add_argument("--calibration-items", type=int, default=16,
                        help="development items whose answers teach the `calibrated` heuristic")
    parser.add_argument("--survivors", type=int, default=6, help="survivors answered per item, the root included")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument("--max-prompt-words", type=int, default=MAX_PROMPT_WORDS)
    parser.add_argument("--objective", default=D.DEFAULT_OBJECTIVE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 items, 2 seeds, short answers")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.items, args.calibration_items, args.max_tokens = 2, 2, 32
    main(args)
