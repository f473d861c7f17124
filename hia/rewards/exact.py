"""An exact reference for the attributes a text measure defines: no model, no noise.

- verbosity: the answer's word count, placed on the rubric's bands (under 20 words, 20-60,
  60-150, 150-300, over 300);
- complexity: the answer's Flesch-Kincaid reading grade (textstat), placed on the rubric's bands
  (grades 1-4, 5-7, 8-10, 11-13, 14 and above).

A band edge scores the half-way point between its two levels (60 words is verbosity 1.5), and
scores run linearly between edges (in log words for verbosity, where doubling a length counts
the same at every size), so two answers of different length never tie. Users who mean "short"
literally get it, and a benchmark judged by it carries no model noise.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Sequence

import numpy as np

from hia import _defaults as D
from hia.core.usage import Usage
from hia.errors import RewardModelError
from hia.rewards.base import ReferenceRewardModel

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def reading_grade(text: str) -> float:
    """Flesch-Kincaid grade level (0 for text without words)."""
    if not _WORD.search(text):
        return 0.0
    import textstat

    return float(textstat.flesch_kincaid_grade(text))


def on_bands(value: float, edges: Sequence[float], low: float = D.SCALE_LOW, high: float = D.SCALE_HIGH) -> float:
    """`value` placed on a scale whose edge i (between levels i and i+1) scores i + 0.5.

    Linear between edges, extended past the first and last edge with the nearest slope, clipped."""
    edges = list(edges)
    if len(edges) < 2:
        raise ValueError("on_bands needs at least two edges")
    i = next((k for k in range(len(edges) - 1) if value < edges[k + 1]), len(edges) - 2)
    span = edges[i + 1] - edges[i]
    score = low + i + 0.5 + (value - edges[i]) / span
    return float(min(high, max(low, score)))


def verbosity_score(text: str) -> float:
    words = word_count(text)
    return on_bands(math.log(max(words, 1)), [math.log(e) for e in D.VERBOSITY_WORD_EDGES])


def complexity_score(text: str) -> float:
    return on_bands(reading_grade(text), D.COMPLEXITY_GRADE_EDGES) if word_count(text) else 0.0


MEASURES: dict[str, Callable[[str], float]] = {"verbosity": verbosity_score, "complexity": complexity_score}


class ExactReference(ReferenceRewardModel):
    """Scores verbosity and complexity by their text measures (see the module's docstring)."""

    attributes = tuple(MEASURES)

    def score(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
              usage: Usage | None = None) -> np.ndarray:
        unknown = [a for a in attributes if a not in MEASURES]
        if unknown:
            raise RewardModelError(f"the exact reference measures only {list(MEASURES)}, not {unknown}; "
                                   "route other attributes to another model with CompositeReference")
        return np.array([[MEASURES[a](r) for a in attributes] for r in responses]).reshape(len(responses), len(attributes))

    def agreement(self, attribute: str) -> float | None:
        # Exact by definition for what it measures; it cannot judge anything else.
        return 1.0 if attribute in MEASURES else 0.0
