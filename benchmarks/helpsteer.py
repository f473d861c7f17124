"""Quality against budget on held-out HelpSteer prompts: HIA against best-of-N (ours and its-hub's),
under the same budgets, judged by two references: the trained attribute model and the exact one.

    .venv/bin/python benchmarks/helpsteer.py            # the headline: 24 items, HIA at 1 and 2, best-of-N at 1, 2, 4, 8
    .venv/bin/python benchmarks/helpsteer.py --grid     # also greedy and beam, every search at 1, 2, 4, 8 (longer)
    .venv/bin/python benchmarks/helpsteer.py --quick    # 2 items, budgets 1 and 2 (what the tests run)
    .venv/bin/python benchmarks/helpsteer.py --data path/to/helpsteer2.jsonl   # any HelpSteer or HelpSteer2 file

Prompts: the evaluation split (hia.data.splits: by a hash of the text; calibration and the choice
of defaults use only the development split) of prompts of at most --max-prompt-words words, in a
seeded order. Goals that can be met: for each prompt one of its rated responses is drawn, and the
goal is that response's human ratings on one or two attributes (alternating), taken from the
attributes both references can judge (the trained model's grouped-CV Spearman at least 0.3, and
a text measure the exact reference defines): with HelpSteer, complexity and verbosity.
Online learning is off, so no answer teaches the heuristic used for another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from pathlib import Path

from _harness import (
    BenchItem,
    Plan,
    add_run_args,
    apply_defaults,
    heuristic_name,
    run_name,
    run_on_local_models,
    write_outputs,
)

from hia import Goal
from hia import _defaults as D
from hia.build import Settings, build_reference
from hia.data import load_helpsteer
from hia.data.splits import prompt_id, split_prompts
from hia.storage.cache import Cache

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "helpsteer" / "helpsteer_v1_sample500.jsonl"
ITEMS = 24  # the headline comparison needs at least 24 held-out prompts
MAX_PROMPT_WORDS = 100


def judgeable(reference, threshold: float = D.UNJUDGEABLE_SPEARMAN) -> list[str]:
    """Attributes `reference` agrees with human ratings on (Spearman in its report at least `threshold`)."""
    return [a for a in reference.attributes if (reference.agreement(a) or 0.0) >= threshold]


def items(data: Path, count: int, max_words: int, attributes: list[str], seed: int, part: str = "eval") -> list[BenchItem]:
    """`count` prompts of one part of the split (evaluation by default), each with a goal someone met."""
    rows = [r for r in load_helpsteer(data).rows if len(r.prompt.split()) <= max_words]
    prompts = split_prompts((r.prompt for r in rows), part)
    rng = random.Random(seed)
    rng.shuffle(prompts)
    out = []
    for i, prompt in enumerate(prompts[:count]):
        rated = rng.choice([r for r in rows if r.prompt == prompt])  # a response someone wrote and rated
        names = rng.sample(attributes, min(1 + i % 2, len(attributes)))
        goal = Goal({n: float(rated.scores[n]) for n in sorted(names)})
        out.append(BenchItem(prompt_id(prompt), prompt, {"trained": goal, "exact": goal}))
    return out


def write_batch_items(bench: list[BenchItem], path: Path) -> None:
    """The benchmark's items as `hia batch` reads them: id, prompt and the goal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for item in bench:
            f.write(json.dumps({"id": item.id, "prompt": item.prompt, "goal": str(item.goals["trained"])}) + "\n")
    print(f"wrote {len(bench)} items to {path}")


async def main(args: argparse.Namespace) -> None:
    store = Cache()  # the scores the references give, kept for the run
    trained = build_reference(Settings(reference="attributes", reference_file=args.reference_file), store)
    exact = build_reference(Settings(reference="exact"), store)
    attributes = [a for a in judgeable(trained) if a in exact.attributes]
    bench = items(args.data, args.items, args.max_prompt_words, attributes, args.seed)
    if args.items_out:  # the same items as a `hia batch` file, and nothing run
        write_batch_items(bench, args.items_out)
        return
    plan = Plan(args.methods, args.budgets, args.bon_budgets, args.its_hub_budget,
                {"trained": trained, "exact": exact})
    args.out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{len(bench)} held-out prompts, goals over {attributes}, searches {plan.searches} at {plan.budgets}, "
          f"best-of-N at {plan.bon_budgets}, its-hub at {plan.its_hub_budget}, optimizer {args.optimizer}, policy {args.policy}")
    rows = await run_on_local_models(bench, plan, rows_path=args.out_dir / f"{run_name('helpsteer', args)}_rows.jsonl",
                                     max_tokens=args.max_tokens, optimizer=args.optimizer, policy=args.policy,
                                     heuristic_file=args.heuristic_file, memory_dir=args.memory_dir)
    write_outputs(run_name("helpsteer", args), rows, plan, args.out_dir, n_items=len(bench), attributes=attributes,
                  data=Path(args.data).name, max_tokens=args.max_tokens, optimizer=args.optimizer, policy=args.policy,
                  heuristic=heuristic_name(args), quick=args.quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a HelpSteer or HelpSteer2 file (jsonl/json/parquet)")
    add_run_args(parser, items=ITEMS, max_prompt_words=MAX_PROMPT_WORDS, results=ROOT / "benchmarks" / "results")
    parser.add_argument("--reference-file", type=Path, help="the trained attribute model (default: the shipped one)")
    parser.add_argument("--items-out", type=Path, help="write the items as a `hia batch` JSONL file and stop")
    args = parser.parse_args()
    apply_defaults(args)
    asyncio.run(main(args))
