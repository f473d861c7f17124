"""Preference data from alignment: every aligned request paid for several scored answers to one
prompt, which is what preference training needs.

- DPO/IPO rows (`prompt`, `chosen`, `rejected`): pairs of answers to one prompt, ordered by the
  alignment's reward, kept when the margin between them lies in a band: above the reference's
  error (a smaller margin is a coin flip, so the pair would teach noise) and below an "easy"
  ceiling (so lopsided pairs teach little).
- KTO rows (`prompt`, `completion`, `label`): each answer, labelled by whether it met the goal
  (every attribute within the goal's tolerance).

The prompt is the user's original prompt, never the rewrite that drew the answer, so a policy
trained on the rows learns to answer the user. Each row names the goal it was aligned to. The
columns are those TRL's DPOTrainer and KTOTrainer document for the standard format.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from hia import _defaults as D
from hia.errors import DataError, InputError
from hia.storage.jsonl import check_not_an_input, read_jsonl

FORMATS = ("dpo", "kto")


@dataclass
class ExportSummary:
    """How many records were read and what each filter kept or dropped."""

    records: int = 0  # lines read
    aligned: int = 0  # records with at least one scored answer
    rows: int = 0  # rows written
    dropped: Counter = field(default_factory=Counter)  # reason -> count

    def lines(self) -> list[str]:
        out = [f"{self.records} records read, {self.aligned} with scored answers, {self.rows} rows written"]
        out += [f"  dropped {count:>6}  {reason}" for reason, count in sorted(self.dropped.items())]
        return out


@dataclass(frozen=True)
class ScoredAnswer:
    response: str
    reward: float
    goal_met: bool


@dataclass(frozen=True)
class AlignedPrompt:
    """The scored answers of one alignment: the user's prompt, its goal and its objective."""

    prompt: str
    goal: str
    objective: str
    answers: list[ScoredAnswer]


def read_alignments(paths: Iterable[str | Path], summary: ExportSummary) -> Iterator[AlignedPrompt]:
    """The alignments in batch outputs (`align_many`) and proxy traces (`hia serve --trace`):
    JSON lines with a `result` (an AlignmentResult's dict). Failed items keep their paid answers
    in `result` too, so they count. A torn last line from a killed writer is skipped."""
    for path in map(Path, paths):
        if not path.is_file():
            raise InputError(f"{path} is not a file; give batch outputs or proxy traces (JSON lines)")
        for line in read_jsonl(path):
            number, record = line.number, line.value
            if line.error is not None:
                if line.last:
                    summary.dropped["torn last line"] += 1
                    continue
                raise DataError(f"{path}:{number}: {line.error}")
            summary.records += 1
            result = record.get("result") if isinstance(record, dict) else None
            if not isinstance(result, dict) or "candidates" not in result:
                summary.dropped["record without a result"] += 1
                continue
            aligned = _alignment(result, f"{path}:{number}")
            if len(aligned.answers) == 0:
                summary.dropped["result without a scored answer"] += 1
                continue
            summary.aligned += 1
            yield aligned


def _alignment(result: dict, where: str) -> AlignedPrompt:
    try:
        # The goal as text, read as written: its attributes may be ones this process has not registered.
        goal = ",".join(f"{name}={float(target):g}" for name, target in result["goal"]["targets"].items())
        objective = result["objective"]
        answers = []
        for c in result["candidates"]:
            evaluation = c.get("evaluation")
            if not evaluation or not evaluation.get("response", "").strip():
                continue
            rewards = evaluation["rewards"]
            answers.append(ScoredAnswer(evaluation["response"], float(rewards[objective]),
                                        float(rewards.get("goal_completion", 0.0)) >= 1.0))
        return AlignedPrompt(result["prompt"], goal, objective, answers)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: not an alignment result ({type(exc).__name__}: {exc})") from None


def dpo_rows(alignments: Iterable[AlignedPrompt], summary: ExportSummary, *, min_margin: float = D.PAIR_MIN_MARGIN,
             max_margin: float = D.PAIR_MAX_MARGIN) -> Iterator[dict[str, Any]]:
    """Every pair of distinct answers to one prompt whose reward margin is within [min, max]."""
    if not 0 <= min_margin <= max_margin:
        raise InputError(f"the margin band must satisfy 0 <= min_margin <= max_margin, got {min_margin} and {max_margin}")
    for aligned in alignments:
        unique = {a.response: a for a in sorted(aligned.answers, key=lambda a: a.reward)}  # the last, best, wins
        if len(unique) < 2:
            summary.dropped["prompt with fewer than two distinct answers"] += 1
            continue
        for a, b in itertools.combinations(sorted(unique.values(), key=lambda a: -a.reward), 2):
            margin = a.reward - b.reward
            if margin < min_margin:
                summary.dropped[f"pair within the reference's error (margin < {min_margin:g})"] += 1
            elif margin > max_margin:
                summary.dropped[f"easy pair (margin > {max_margin:g})"] += 1
            else:
                summary.rows += 1
                yield {"prompt": aligned.prompt, "chosen": a.response, "rejected": b.response, "goal": aligned.goal,
                       "margin": round(margin, 4), "chosen_reward": round(a.reward, 4),
                       "rejected_reward": round(b.reward, 4)}


def kto_rows(alignments: Iterable[AlignedPrompt], summary: ExportSummary) -> Iterator[dict[str, Any]]:
    """Each distinct answer, labelled True when it met the goal."""
    for aligned in alignments:
        seen = set()
        for answer in aligned.answers:
            if answer.response in seen:
                summary.dropped["repeated answer"] += 1
                continue
            seen.add(answer.response)
            summary.rows += 1
            yield {"prompt": aligned.prompt, "completion": answer.response, "label": answer.goal_met,
                   "goal": aligned.goal, "reward": round(answer.reward, 4)}


def export_pairs(inputs: Iterable[str | Path], out: str | Path, *, format: str = "dpo",
                 min_margin: float = D.PAIR_MIN_MARGIN, max_margin: float = D.PAIR_MAX_MARGIN) -> ExportSummary:
    """Write DPO or KTO rows (JSON lines) from batch outputs and proxy traces; returns the summary."""
    if format not in FORMATS:
        raise InputError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    out, inputs = Path(out), [Path(i) for i in inputs]
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file path for the rows")
    check_not_an_input(out, inputs)
    summary = ExportSummary()
    alignments = read_alignments(inputs, summary)
    rows = dpo_rows(alignments, summary, min_margin=min_margin, max_margin=max_margin) if format == "dpo" \
        else kto_rows(alignments, summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    except BaseException:
        partial.unlink(missing_ok=True)  # a failed export leaves no half-written file behind
        raise
    partial.replace(out)
    return summary
