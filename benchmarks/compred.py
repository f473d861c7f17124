"""Quality against budget on community-preference data: goals that combine a community's taste
with one or two HelpSteer attributes.

    .venv/bin/python benchmarks/compred.py            # full: 5 items, budgets 1,2,4,8 (writes benchmarks/results/)
    .venv/bin/python benchmarks/compred.py --quick    # 2 items, budgets 1,2 (what the tests run)

Data: real ComPRed (`--compred allenai/compred --subset history`) where a hub is reachable, or
a local file in ComPRed's schema; here the stand-in is the Stack Exchange 3dprinting sample in
../shared/data. A community preference model (Bradley-Terry) is trained on the pairs of questions
the benchmark does not use; the reference routes `community` to it and the HelpSteer attributes
to the shipped attribute model. Online learning is off, as in helpsteer.py.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from pathlib import Path

from _harness import BenchItem, add_run_args, apply_quick, run_on_local_models, write_outputs
from helpsteer import judgeable

from hia import Goal, default_reference
from hia.calibration import prompt_id
from hia.data import load_compred, load_stackexchange_pairs
from hia.rewards.composite import CompositeReference
from hia.rewards.preference import CommunityPreferenceModel

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SE = ROOT / ".." / "shared" / "data" / "stackexchange" / "se_preferences_3dprinting_sample500.jsonl"


HELD_OUT = 8  # questions kept out of training whatever --items is, so a smaller run scores with the same model


def split(pairs, count: int, max_words: int, seed: int):
    """Benchmark questions (short ones, seeded) and the pairs of all other questions, for training."""
    questions = sorted({p.prompt for p in pairs if len(p.prompt.split()) <= max_words})
    random.Random(seed).shuffle(questions)
    held_out = set(questions[:max(count, HELD_OUT)])
    return questions[:count], [p for p in pairs if p.prompt not in held_out]


async def main(args: argparse.Namespace) -> None:
    pairs = (load_compred(args.compred, subset=args.subset).rows if args.compred
             else load_stackexchange_pairs(args.stackexchange).rows)
    questions, training = split(pairs, args.items, args.max_prompt_words, args.seed)
    if args.max_training_pairs:
        training = random.Random(args.seed).sample(training, min(len(training), args.max_training_pairs))
    preference = CommunityPreferenceModel.fit(training)
    attributes_model = default_reference()
    helpsteer = judgeable(attributes_model)
    reference = CompositeReference({"community": preference, **{a: attributes_model for a in helpsteer}})
    rng = random.Random(args.seed)
    items = []
    for i, question in enumerate(questions):
        extra = rng.sample(helpsteer, min(1 + i % 2, len(helpsteer)))  # one or two HelpSteer attributes
        targets = {"community": float(rng.choice([3, 4])), **{a: float(rng.randint(0, 4)) for a in extra}}
        items.append(BenchItem(prompt_id(question), question, Goal(targets)))
    budgets = [int(b) for b in args.budgets.split(",")]
    methods = args.methods.split(",")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rows_path = args.out_dir / "compred_rows.jsonl"
    print(f"{len(items)} questions ({preference.community}); preference model trained on {len(training)} pairs of "
          f"other questions; goals: community + {helpsteer}; budgets {budgets}")
    rows = await run_on_local_models(items, methods, budgets, reference=reference, rows_path=rows_path,
                                     max_tokens=args.max_tokens, objective="euclidean")
    write_outputs("compred", rows, methods, budgets, args.out_dir, n_items=len(items), community=preference.community,
                  training_pairs=len(training), attributes=["community", *helpsteer],
                  data=str(args.compred or Path(args.stackexchange).name), max_tokens=args.max_tokens, quick=args.quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compred", help="ComPRed hub id or local ComPRed-schema file (default: the Stack Exchange stand-in)")
    parser.add_argument("--subset", default="history")
    parser.add_argument("--stackexchange", type=Path, default=DEFAULT_SE)
    # 5 items: 59 min measured on the 2-core machine (about 12 per item)
    add_run_args(parser, items=5, max_prompt_words=80, results=ROOT / "benchmarks" / "results")
    parser.add_argument("--max-training-pairs", type=int, default=0, help="0: all")
    args = parser.parse_args()
    apply_quick(args)
    if args.quick:
        args.max_training_pairs = 300
    asyncio.run(main(args))
