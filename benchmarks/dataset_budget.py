"""One budget for a dataset: an even split against spending it where it pays, at the same total.

    .venv/bin/python benchmarks/dataset_budget.py                 # 24 held-out HelpSteer items, 2 calls each on average
    .venv/bin/python benchmarks/dataset_budget.py --items 4 --per-item 2   # a quick look

Both runs align the same items (the HelpSteer benchmark's: evaluation-split prompts, goals drawn
from a rated response to the same prompt) with HIA on the embedded local models and the trained
reference, under the same total of policy calls: the even split gives every item `--per-item`
calls; the allocator (`align_many(total_budget=...)`) gives every item one call and the rest to
the items still off their goal and improving. Printed: mean euclidean reward and the share of
items whose goal was met, each with a paired bootstrap interval of the difference. The batch
outputs are kept under --out-dir (not committed: they hold the dataset's prompts), so a rerun
resumes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
from pathlib import Path

import numpy as np
from _harness import MAX_TOKENS, bootstrap
from helpsteer import DEFAULT_DATA, ITEMS, MAX_PROMPT_WORDS, items, judgeable

from hia import SearchOptions, align_many
from hia import _defaults as D
from hia.build import Settings, build_reference
from hia.storage.cache import Cache

ROOT = Path(__file__).resolve().parents[1]


def outcomes(path: Path) -> dict[str, tuple[float, float, int]]:
    """id -> (euclidean reward, goal met, calls) from a batch output; an item without an answer
    scores the worst reward on the scale and counts as not met."""
    found = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        result = record.get("result") or {}
        rewards = result.get("rewards") or {}
        targets = (result.get("goal") or {}).get("targets") or {"any": 0}
        worst = -float(np.sqrt(len(targets))) * (D.SCALE_HIGH - D.SCALE_LOW)  # every attribute off by the whole scale
        found[record["id"]] = (rewards.get("euclidean", worst), float(rewards.get("goal_completion", 0.0) >= 1.0),
                               (result.get("usage") or {}).get("policy_calls", 0))
    return found


async def run(args: argparse.Namespace) -> None:
    from hia.build import Endpoint, build, build_policy
    from hia.models.local import LocalModels

    store = Cache()
    reference = build_reference(Settings(reference="attributes"), store)
    attributes = [a for a in judgeable(reference) if a in ("complexity", "verbosity")]
    bench = [{"id": b.id, "prompt": b.prompt, "goal": str(b.goals["trained"])}
             for b in items(args.data, args.items, args.max_prompt_words, attributes, args.seed)]
    total = args.per_item * len(bench)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    even_path, adaptive_path = args.out_dir / "dataset_budget_even.jsonl", args.out_dir / "dataset_budget_adaptive.jsonl"
    with LocalModels() as local:
        policy = build_policy(Endpoint(local.policy.base_url, local.policy.alias), blocking=False,
                              max_tokens=args.max_tokens)
        pipeline = build(Settings(search=SearchOptions(online_learning=False)))
        aligner = pipeline.async_aligner(policy, reference=reference)
        await align_many(aligner, bench, output=even_path, budget_per_item=args.per_item)
        await align_many(aligner, bench, output=adaptive_path, total_budget=total)
        await policy.close()
        pipeline.close()
    even, adaptive = outcomes(even_path), outcomes(adaptive_path)
    ids = [b["id"] for b in bench]
    report = {"items": len(ids), "total_calls": total, "per_item": args.per_item, "data": args.data.name,
              "machine": f"{platform.machine()}, {platform.system()}", "max_tokens": args.max_tokens}
    for name, column in (("euclidean", 0), ("goal_met", 1), ("calls", 2)):
        report[name] = {"even": bootstrap([even[i][column] for i in ids])[0],
                        "adaptive": bootstrap([adaptive[i][column] for i in ids])[0]}
        mean, ci = bootstrap([adaptive[i][column] - even[i][column] for i in ids])
        report[name]["adaptive - even"] = {"mean": mean, "ci95": ci}
    allocations = [json.loads(line).get("allocation", {}) for line in adaptive_path.read_text().splitlines()]
    report["adaptive_calls_per_item"] = sorted(a.get("calls", 0) for a in allocations)
    report["adaptive_why"] = {}
    for a in allocations:
        why = "goal met" if str(a.get("why", "")).startswith("goal met") else a.get("why")
        report["adaptive_why"][why] = report["adaptive_why"].get(why, 0) + 1
    print(json.dumps(report, indent=2))
    (args.out_dir / "dataset_budget.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--per-item", type=int, default=2, help="the even split's calls per item; the total is this times the items")
    parser.add_argument("--max-prompt-words", type=int, default=MAX_PROMPT_WORDS)
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    asyncio.run(run(parser.parse_args()))
