"""Where does a reward margin stop being noise? The band `hia export-pairs` keeps comes from this.

    .venv/bin/python benchmarks/pair_margins.py [--data FILE] [--part dev]

For each prompt with three or more rated responses (development prompts only, by default), each
response's human ratings on complexity and verbosity become a goal, as the quality benchmarks
draw them, and every pair of the prompt's other responses is compared twice: by the euclidean
reward of the trained reference's out-of-fold predictions, and by that of the human ratings.
Printed per band of predicted margin: how often the reference orders the pair as the humans do,
among the pairs the humans did not tie.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from hia import _defaults as D
from hia.data import load_helpsteer
from hia.data.splits import is_dev_prompt
from hia.rewards.attribute_model import out_of_fold

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "helpsteer" / "helpsteer_v1_sample500.jsonl"
ATTRIBUTES = ["complexity", "verbosity"]
BANDS = [(0, 0.25), (0.25, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, float("inf"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--part", choices=["dev", "eval", "all"], default="dev")
    args = parser.parse_args()
    rows = load_helpsteer(args.data).rows
    prompts, responses = [r.prompt for r in rows], [r.response for r in rows]
    labels = np.array([[r.scores[a] for a in ATTRIBUTES] for r in rows], dtype=float)
    predicted, _ = out_of_fold(prompts, responses, labels, ATTRIBUTES, folds=D.CV_FOLDS)
    by_prompt: dict[str, list[int]] = {}
    for i, p in enumerate(prompts):
        if args.part == "all" or is_dev_prompt(p) == (args.part == "dev"):
            by_prompt.setdefault(p, []).append(i)
    margins, agreement = [], []
    for idx in (v for v in by_prompt.values() if len(v) >= 3):
        for g in idx:
            others = [i for i in idx if i != g]
            for a, b in itertools.combinations(others, 2):
                ref = np.linalg.norm(predicted[b] - labels[g]) - np.linalg.norm(predicted[a] - labels[g])
                human = np.linalg.norm(labels[b] - labels[g]) - np.linalg.norm(labels[a] - labels[g])
                margins.append(abs(ref))
                agreement.append(np.sign(ref) * np.sign(human))
    margins, agreement = np.array(margins), np.array(agreement)
    print(f"{len(margins)} pairs from {sum(len(v) >= 3 for v in by_prompt.values())} {args.part} prompts of {args.data.name}")
    print("| predicted margin | pairs | humans tie | reference agrees (untied pairs) |")
    print("|---|---|---|---|")
    for lo, hi in BANDS:
        band = (margins >= lo) & (margins < hi)
        untied = band & (agreement != 0)
        agree = float(np.mean(agreement[untied] > 0)) if untied.any() else float("nan")
        print(f"| {lo:g} to {hi:g} | {band.sum()} | {np.mean(agreement[band] == 0):.2f} | {agree:.2f} ({untied.sum()}) |")
    print(f"defaults: PAIR_MIN_MARGIN {D.PAIR_MIN_MARGIN}, PAIR_MAX_MARGIN {D.PAIR_MAX_MARGIN}")


if __name__ == "__main__":
    main()
