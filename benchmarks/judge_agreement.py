"""How well does the LLM judge agree with HelpSteer's human ratings?

    .venv/bin/python benchmarks/judge_agreement.py --rows 30 --attributes verbosity,helpfulness

Scores a seeded sample of rated (prompt, response) rows with LLMJudge on the embedded policy
model, with and without the rubric, and prints Spearman correlation and mean absolute error
per attribute against the human ratings. The data is read from ../shared/data/helpsteer or --data.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from hia import LLMJudge
from hia.models.local import LocalModels

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "helpsteer" / "helpsteer_v1_sample500.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--attributes", default="verbosity,helpfulness")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-response-chars", type=int, default=1500)
    args = parser.parse_args()
    attributes = args.attributes.split(",")
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    sample = random.Random(args.seed).sample(rows, args.rows)
    human = np.array([[r[a] for a in attributes] for r in sample], dtype=float)
    print(f"{len(sample)} rows of {args.data.name} (seed {args.seed}); machine: {platform.machine()}, "
          f"{platform.processor() or 'cpu'}; responses cut to {args.max_response_chars} characters")
    with LocalModels() as local:
        for rubric in (False, True):
            judge = LLMJudge(local.policy.alias, base_url=local.policy.base_url, rubric=rubric,
                             max_response_chars=args.max_response_chars)
            start = time.perf_counter()
            scores = judge.score([r["prompt"] for r in sample], [r["response"] for r in sample], attributes)
            seconds = time.perf_counter() - start
            print(f"\njudge {local.policy.alias}, rubric {'on' if rubric else 'off'}: "
                  f"{seconds / scores.size:.2f} s per judgement")
            print(f"{'attribute':<12} {'spearman':>8} {'MAE':>6} {'MAE of mean':>11}")
            for j, a in enumerate(attributes):
                rho = spearmanr(scores[:, j], human[:, j]).statistic
                mae = np.abs(scores[:, j] - human[:, j]).mean()
                baseline = np.abs(human[:, j].mean() - human[:, j]).mean()
                print(f"{a:<12} {rho:>8.3f} {mae:>6.2f} {baseline:>11.2f}")


if __name__ == "__main__":
    main()
