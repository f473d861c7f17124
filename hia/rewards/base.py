"""The two reward-model interfaces.

Both return a float array of shape (n, len(attributes)), one row per input, one column per
requested attribute, on each attribute's own scale (0-4 for HelpSteer's).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np

from hia.core.usage import Usage
from hia.errors import RewardModelError


def check_scores(scores: object, n: int, attributes: Sequence[str], model: object) -> np.ndarray:
    """Validate a reward model's output; a NaN or a wrong shape is a RewardModelError."""
    name = type(model).__name__
    try:
        array = np.asarray(scores, dtype=float)
    except (TypeError, ValueError):
        raise RewardModelError(f"{name} returned {type(scores).__name__}, not an array of numbers") from None
    expected = (n, len(attributes))
    if array.shape != expected:
        raise RewardModelError(
            f"{name} returned scores of shape {array.shape}, expected {expected} "
            f"({n} inputs x attributes {list(attributes)})"
        )
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise RewardModelError(f"{name} returned a non-finite score for input {bad[0]}, attribute {attributes[bad[1]]!r}")
    return array


class HeuristicRewardModel(ABC):
    """Predicts, from a prompt alone, the scores the policy's response to it will get.

    Cheap by design: it runs on every candidate the optimizer proposes, before any policy call.
    """

    @abstractmethod
    def predict(self, prompts: Sequence[str], attributes: Sequence[str]) -> np.ndarray:
        """Predicted scores, shape (len(prompts), len(attributes))."""

    def update(self, prompts: Sequence[str], scores: np.ndarray, attributes: Sequence[str]) -> None:
        """Learn from real (prompt, reference score) evidence. The zero-shot model ignores it."""

    # The search knows the user's question beside each candidate prompt. Heuristics that read it
    # (PolicyHeuristic) override these; the others see the prompts alone.
    def predict_for(self, question: str, prompts: Sequence[str], attributes: Sequence[str]) -> np.ndarray:
        """Predicted scores of the answers to `prompts`, all rewrites of `question`."""
        return self.predict(prompts, attributes)

    def spread_for(self, question: str, prompts: Sequence[str], attributes: Sequence[str]) -> np.ndarray | None:
        """How uncertain each prediction is (an sd per cell), or None when the model cannot say."""
        return None

    def predict_with_spread(self, question: str, prompts: Sequence[str],
                            attributes: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """predict_for and spread_for at once (a heuristic that computes both together overrides it)."""
        return self.predict_for(question, prompts, attributes), self.spread_for(question, prompts, attributes)

    def update_for(self, question: str, prompts: Sequence[str], scores: np.ndarray, attributes: Sequence[str]) -> None:
        """Learn from the answers to rewrites of `question`."""
        self.update(prompts, scores, attributes)


class ReferenceRewardModel(ABC):
    """Scores a policy response to a prompt: the judge whose verdict picks the returned answer."""

    @abstractmethod
    def score(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
              usage: Usage | None = None) -> np.ndarray:
        """Scores, shape (len(responses), len(attributes)). Models that call an endpoint record it in `usage`."""

    async def ascore(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
                     usage: Usage | None = None) -> np.ndarray:
        return await asyncio.to_thread(self.score, prompts, responses, attributes, usage=usage)

    def agreement(self, attribute: str) -> float | None:
        """How well this model's scores for `attribute` agree with human ratings (Spearman in its own
        report), or None where that was never measured. Goals on attributes measured below
        `UNJUDGEABLE_SPEARMAN` get a warning: the model cannot tell a good answer from a bad one there."""
        return None
