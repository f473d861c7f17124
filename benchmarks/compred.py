"""Quality against budget on community-preference data: goals that combine a community's taste
with one or two of verbosity and complexity, judged by a trained and an exact reference.

    .venv/bin/python benchmarks/compred.py            # the headline: 24 questions, HIA at 1 and 2, best-of-N at 1, 2, 4, 8
    .venv/bin/python benchmarks/compred.py --quick    # 2 items, budgets 1 and 2 (what the tests run)

Data: real ComPRed (`--compred allenai/compred --subset history`) where a hub is reachable, or
a local file in ComPRed's schema; here the stand-in is the Stack Exchange 3dprinting sample in
../shared/data. A community preference model (Bradley-Terry) is trained on the pairs of every
question the benchmark may evaluate on except those (all evaluation-split questions of at most
--max-prompt-words words are held out, whatever --items is). The two references route
`community` to it, and verbosity and complexity to the trained attribute model ("trained") or to
the text measures ("exact").

Goals that can be met: each question's community-favourite answer (the highest voted) is scored
by each reference, and the goal asks for those scores: community plus one or two of verbosity and
complexity (alternating). "Answer like the community's favourite", as each judge sees it.
"""

from __future__ import annotations

import argparse
import asyncio
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
from helpsteer import judgeable

from hia import Goal
from hia.build import Settings, build_reference
from hia.data import load_compred, load_stackexchange_pairs
from hia.data.splits import prompt_id, split_prompts
from hia.rewards.composite import CompositeReference
from hia.rewards.preference import CommunityPreferenceModel
from hia.storage.cache import Cache

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SE = ROOT / ".." / "shared" / "data" / "stackexchange" / "se_preferences_3dprinting_sample500.jsonl"
ITEMS = 24
MAX_PROMPT_WORDS = 80


def split(pairs, count: int, max_words: int, seed: int):
    """Benchmark questions (evaluation split, short ones, seeded order) and the pairs of every other
    question, for training; the held-out set does not depend on `count`."""
    questions = split_prompts((p.prompt for p in pairs if len(p.prompt.split()) <= max_words), "eval")
    random.Random(seed).shuffle(questions)
    held_out = set(questions)
    return questions[:count], [p for p in pairs if p.prompt not in held_out]


def favourite_answers(pairs) -> dict[str, str]:
    """Each question's highest-voted answer (or, without votes, the one chosen most often)."""
    best: dict[str, tuple[float, str]] = {}
    wins: dict[tuple[str, str], int] = {}
    for p in pairs:
        wins[(p.prompt, p.chosen)] = wins.get((p.prompt, p.chosen), 0) + 1
        rank = p.chosen_score if p.chosen_score is not None else wins[(p.prompt, p.chosen)]
        if p.prompt not in best or rank > best[p.prompt][0]:
            best[p.prompt] = (rank, p.chosen)
    return {q: answer for q, (_, answer) in best.items()}


async def main(args: argparse.Namespace) -> None:
    pairs = (load_compred(args.compred, subset=args.subset).rows if args.compred
             else load_stackexchange_pairs(args.stackexchange).rows)
    questions, training = split(pairs, args.items, args.max_prompt_words, args.seed)
    if args.max_training_pairs:
        training = random.Random(args.seed).sample(training, min(len(training), args.max_training_pairs))
    preference = CommunityPreferenceModel.fit(training)
    store = Cache()
    trained_attributes = build_reference(Settings(reference="attributes"), store)
    exact = build_reference(Settings(reference="exact"), store)
    measured = [a for a in judgeable(trained_attributes) if a in exact.attributes]
    references = {
        "trained": CompositeReference({"community": preference, **{a: trained_attributes for a in measured}}),
        "exact": CompositeReference({"community": preference, **{a: exact for a in measured}}),
    }
    favourite = favourite_answers(pairs)
    rng = random.Random(args.seed)
    bench = []
    for i, question in enumerate(questions):
        names = ["community", *sorted(rng.sample(measured, min(1 + i % 2, len(measured))))]
        goals = {}
        for ref_name, reference in references.items():
            scores = reference.score([question], [favourite[question]], names)[0]
            goals[ref_name] = Goal({n: round(float(v), 1) for n, v in zip(names, scores)})
        bench.append(BenchItem(prompt_id(question), question, goals))
    plan = Plan(args.methods, args.budgets, args.bon_budgets, args.its_hub_budget, references)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{len(bench)} questions ({preference.community}); preference model trained on {len(training)} pairs of "
          f"other questions; goals: community + {measured}; searches {plan.searches} at {plan.budgets}")
    rows = await run_on_local_models(bench, plan, rows_path=args.out_dir / f"{run_name('compred', args)}_rows.jsonl",
                                     max_tokens=args.max_tokens, optimizer=args.optimizer, policy=args.policy,
                                     heuristic_file=args.heuristic_file, memory_dir=args.memory_dir)
    write_outputs(run_name("compred", args), rows, plan, args.out_dir, n_items=len(bench), community=preference.community,
                  training_pairs=len(training), attributes=["community", *measured],
                  data=str(args.compred or Path(args.stackexchange).name), max_tokens=args.max_tokens,
                  optimizer=args.optimizer, policy=args.policy,
                  heuristic=heuristic_name(args), quick=args.quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compred", help="ComPRed hub id or local ComPRed-schema file (default: the Stack Exchange stand-in)")
    parser.add_argument("--subset", default="history")
    parser.add_argument("--stackexchange", "--data", dest="stackexchange", type=Path, default=DEFAULT_SE,
                        help="a Stack Exchange preferences file (the default stand-in)")
    add_run_args(parser, items=ITEMS, max_prompt_words=MAX_PROMPT_WORDS, results=ROOT / "benchmarks" / "results")
    parser.add_argument("--max-training-pairs", type=int, default=0, help="0: all")
    args = parser.parse_args()
    apply_defaults(args)
    if args.quick:
        args.max_training_pairs = 300
    asyncio.run(main(args))
