"""Fitting the question prior (`hia train-prior`): what answers to a question tend to look like.

Every response in the given HelpSteer-style files (rated rows, or chosen/rejected pairs) is
measured as the exact reference measures it (verbosity: the rubric band of its word count;
complexity: of its reading grade), the levels are averaged per question, and a ridge regression
from the question's hashed words (hia.rewards.prior) to that mean is fitted per attribute. Only development-split
prompts are used unless `all_prompts` (the quality benchmarks evaluate on the rest). The ridge
penalty is chosen by cross-validation over the same prompts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hia import _defaults as D
from hia.core.stats import spearman
from hia.data import load_helpsteer, load_helpsteer_pairs
from hia.data.splits import is_dev_prompt
from hia.errors import DataError
from hia.rewards.exact import ExactReference
from hia.rewards.prior import QuestionPrior, question_features

PRIOR_ATTRIBUTES = ("verbosity", "complexity")  # the attributes the exact reference measures


@dataclass
class PriorReport:
    prompts: int
    responses: int
    alpha: dict[str, float] = field(default_factory=dict)
    cv_spearman: dict[str, float] = field(default_factory=dict)  # prompt-level, predicted vs measured mean level
    between_sd: dict[str, float] = field(default_factory=dict)  # spread of the per-question means
    within_sd: dict[str, float] = field(default_factory=dict)  # spread of responses to one question


def responses_by_question(sources: Sequence[str | Path], *, all_prompts: bool = False) -> dict[str, list[str]]:
    """Every response in the files, grouped by question (development prompts only unless `all_prompts`)."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for source in sources:
        try:
            for row in load_helpsteer(source).rows:
                grouped[row.prompt].append(row.response)
        except DataError:
            for pair in load_helpsteer_pairs(source).rows:
                grouped[pair.prompt] += [pair.chosen, pair.rejected]
    return {q: r for q, r in grouped.items() if all_prompts or is_dev_prompt(q)}


def _cv_predictions(x: np.ndarray, y: np.ndarray, alpha: float, folds: int) -> np.ndarray:
    fold_of = np.arange(len(y)) % folds
    out = np.zeros(len(y))
    for f in range(folds):
        train = fold_of != f
        model = QuestionPrior.fit(x[train], {"a": y[train]}, {"a": alpha})
        out[~train] = model.intercepts["a"] + (x[~train] - model.mean) @ model.weights["a"]
    return out


def train_prior(sources: Sequence[str | Path], *, all_prompts: bool = False,
                folds: int = D.CV_FOLDS) -> tuple[QuestionPrior, PriorReport]:
    grouped = responses_by_question(sources, all_prompts=all_prompts)
    if len(grouped) < 2 * folds:
        raise DataError(f"{len(grouped)} questions in {', '.join(map(str, sources))} are too few to fit a prior "
                        f"(at least {2 * folds}); give more rated data")
    questions = sorted(grouped)
    x = np.array([question_features(q) for q in questions])
    flat = [(q, r) for q in questions for r in grouped[q]]
    measured = ExactReference().score([q for q, _ in flat], [r for _, r in flat], list(PRIOR_ATTRIBUTES))
    per_question: dict[str, list[np.ndarray]] = defaultdict(list)
    for (q, _), row in zip(flat, measured):
        per_question[q].append(row)
    report = PriorReport(prompts=len(questions), responses=len(flat))
    targets, alphas = {}, {}
    for j, name in enumerate(PRIOR_ATTRIBUTES):
        y = np.array([np.mean([row[j] for row in per_question[q]]) for q in questions])
        errors = {a: float(np.mean((_cv_predictions(x, y, a, folds) - y) ** 2)) for a in D.PRIOR_RIDGE_ALPHAS}
        alphas[name] = min(errors, key=errors.__getitem__)
        targets[name] = y
        report.alpha[name] = alphas[name]
        report.cv_spearman[name] = spearman(_cv_predictions(x, y, alphas[name], folds), y)
        report.between_sd[name] = round(float(y.std()), 3)
        report.within_sd[name] = round(float(np.mean([np.std([row[j] for row in per_question[q]])
                                                      for q in questions])), 3)
    metadata = {"sources": [Path(str(s)).name for s in sources], "split": "all" if all_prompts else "dev",
                "measured_by": "exact reference (word count and reading grade bands)", "report": report.__dict__}
    return QuestionPrior.fit(x, targets, alphas, metadata=metadata), report
