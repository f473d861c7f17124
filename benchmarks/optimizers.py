"""Which embedded optimizer should hia ship? SmolLM2-135M, Qwen2.5-0.5B (the policy's own model)
and templates alone, compared as HIA's optimizer on development prompts only.

    .venv/bin/python benchmarks/optimizers.py           # 10 development prompts; about 25 min on 2 cores
    .venv/bin/python benchmarks/optimizers.py --quick   # 2 prompts

For each optimizer: the share of its proposals that pass stage 1, the time it costs, and HIA's
quality at budgets 1 and 2 (hia_greedy steered by the trained reference; the chosen answers are
also scored by the exact reference), against best-of-N at 1 and 8 on the same prompts. The
prompts are HelpSteer's development split (hia.data.splits), never the ones the quality
benchmarks evaluate, so the default chosen here is not tuned on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from _harness import BON, BenchItem, Plan, bootstrap, run_on_local_models
from helpsteer import DEFAULT_DATA, MAX_PROMPT_WORDS, judgeable
from helpsteer import items as helpsteer_items

from hia import Goal
from hia.build import Settings, build_reference
from hia.core.objectives import euclidean
from hia.models.local import EMBEDDED_OPTIMIZERS
from hia.storage.cache import Cache

ROOT = Path(__file__).resolve().parents[1]
HIA = "hia_greedy"


EXACT = build_reference(Settings(reference="exact"), Cache())


def exact_reward(row: dict, prompt: str) -> float | None:
    if not row.get("response"):
        return None
    goal = Goal.parse(row["goal"])
    scores = EXACT.score([prompt], [row["response"]], goal.attributes)[0]
    return euclidean(dict(zip(goal.attributes, scores)), goal)


def compare(rows_by_optimizer: dict[str, list[dict]], items: list[BenchItem]) -> dict:
    prompts = {item.id: item.prompt for item in items}
    bon = [r for rows in rows_by_optimizer.values() for r in rows if r["method"] == BON]
    report = {}
    for optimizer, rows in rows_by_optimizer.items():
        hia = [r for r in rows if r["method"] == HIA]
        proposed = sum(r["proposed"] for r in hia)
        entry = {"stage1_pass_share": round(sum(r["passed_stage1"] for r in hia) / proposed, 3) if proposed else None,
                 "proposals_per_alignment": round(proposed / max(1, len(hia)), 2),
                 "optimize_s_per_alignment": round(sum(r["stage_seconds"].get("optimize", 0) for r in hia) / max(1, len(hia)), 2)}
        for judge in ("trained", "exact"):
            def value(r: dict) -> float | None:
                return r["rewards"]["euclidean"] if judge == "trained" else exact_reward(r, prompts[r["item"]])

            for budget, bon_budget in ((1, 1), (2, 8)):
                mine = {r["item"]: value(r) for r in hia if r["budget"] == budget}
                theirs = {r["item"]: value(r) for r in bon if r["budget"] == bon_budget}
                common = [i for i in sorted(mine) if mine[i] is not None and theirs.get(i) is not None]
                mean, ci = bootstrap([mine[i] - theirs[i] for i in common])
                entry[f"{judge}: hia@{budget}"] = round(sum(mine[i] for i in common) / max(1, len(common)), 4)
                entry[f"{judge}: hia@{budget} - best_of_n@{bon_budget}"] = {"mean": mean, "ci95": ci, "items": len(common)}
        report[optimizer] = entry
    return report


async def main(args: argparse.Namespace) -> None:
    trained = build_reference(Settings(reference="attributes"), Cache())
    attributes = [a for a in judgeable(trained) if a in EXACT.attributes]
    items = helpsteer_items(args.data, args.items, MAX_PROMPT_WORDS, attributes, args.seed, part="dev")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rows_by_optimizer = {}
    for i, optimizer in enumerate(args.optimizers.split(",")):
        if optimizer not in EMBEDDED_OPTIMIZERS:
            raise SystemExit(f"unknown optimizer {optimizer!r}; choose from {EMBEDDED_OPTIMIZERS}")
        plan = Plan([HIA], [1, 2], [1, 8] if i == 0 else [], 0, {"trained": trained})  # best-of-N once: it has no optimizer
        print(f"optimizer {optimizer}: {len(items)} development prompts", flush=True)
        rows_by_optimizer[optimizer] = await run_on_local_models(
            items, plan, rows_path=args.out_dir / f"optimizers_{optimizer}_rows.jsonl", max_tokens=args.max_tokens,
            optimizer=optimizer)
    report = {"optimizers": compare(rows_by_optimizer, items), "n_items": len(items), "max_tokens": args.max_tokens,
              "split": "dev", "attributes": attributes}
    (args.out_dir / "optimizers.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--optimizers", default="template,smollm2,qwen")
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if args.quick:
        args.items, args.max_tokens = 2, 32
    asyncio.run(main(args))
