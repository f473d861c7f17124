"""The heuristic hia ships: the question prior, what the prompt asks for, and what this policy has
been seen to do with such asks.

For each attribute of the goal, a prompt asks for a level L in one of three ways: it quotes the
rubric of one level (every template rewrite), it states the target as a number (the root,
"verbosity 1 of 4"), or it says something freer that the zero-shot heuristic reads as a level
(an LLM optimizer's rewrite). With p the level answers to the question tend to have (the
question prior, hia.rewards.prior), the prediction is

    r_hat = p + c_kind * (L - p) + b_kind + d_phrasing

c_kind is how far this policy follows that kind of ask, b_kind its offset (a policy that always
writes longer than asked), d_phrasing the effect of the template phrasing the prompt is written
in. They are one Bayesian linear model per attribute: the prior centres c on the untrained
compliances (HEURISTIC_RUBRIC_COMPLIANCE, ...) and b, d on zero, and every answer the policy is
paid for updates the posterior. So with nothing learned the predictions already depend on the
question (through p) and on the level asked (through L), and with use they follow this policy.
The posterior gives each prediction an uncertainty, which stage 2 uses to break ties.

What is learned is kept per policy (hia.rewards.policy_memory): sufficient statistics, a few
numbers per attribute, never a prompt.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Sequence

import numpy as np

from hia import _defaults as D
from hia.core.attributes import get_attribute, requested_levels, stated_targets
from hia.models.embeddings import Embedder
from hia.models.optimizer import TemplateOptimizer
from hia.rewards.base import HeuristicRewardModel
from hia.rewards.heuristic import ZeroShotHeuristic
from hia.rewards.policy_memory import PolicyMemory
from hia.rewards.prior import QuestionPrior

KINDS = ("quoted", "stated", "free")
PHRASINGS = len(TemplateOptimizer.FRAMES)
FEATURES = 2 * len(KINDS) + PHRASINGS  # (L - p) per kind, an offset per kind, one effect per phrasing


@lru_cache(maxsize=D.TEXT_CACHE_SIZE)
def asks(prompt: str, attributes: tuple[str, ...]) -> dict[str, tuple[str, float | None]]:
    """Per attribute, how the prompt asks for a level and which: a quoted rubric level, a stated
    target, or ("free", None) when it does neither (a prompt is asked about many times a search)."""
    return {**{a: ("free", None) for a in attributes},
            **{a: ("stated", v) for a, v in stated_targets(prompt, attributes).items()},
            **{a: ("quoted", float(v)) for a, v in requested_levels(prompt, attributes).items()}}


def prior_mean() -> np.ndarray:
    mean = np.zeros(FEATURES)
    mean[: len(KINDS)] = (D.HEURISTIC_RUBRIC_COMPLIANCE, D.HEURISTIC_STATED_COMPLIANCE, D.HEURISTIC_FREE_COMPLIANCE)
    return mean


def prior_precision() -> np.ndarray:
    sd = np.concatenate([np.full(len(KINDS), D.HEURISTIC_PRIOR_SD_COMPLIANCE),
                         np.full(len(KINDS), D.HEURISTIC_PRIOR_SD_OFFSET), np.full(PHRASINGS, D.HEURISTIC_PRIOR_SD_PHRASING)])
    return np.diag(1.0 / sd ** 2)


# The prior's terms of the posterior, built once: the posterior is rebuilt after every answer learned.
_PRIOR_PRECISION = prior_precision()
_PRIOR_PRECISION_MEAN = _PRIOR_PRECISION @ prior_mean()


class PolicyHeuristic(HeuristicRewardModel):
    """The shipped heuristic (see the module's docstring). `prior` None: every question's prior
    is the middle of the scale. `memory`: where what is learned about the policy is kept (None:
    this object only)."""

    def __init__(self, prior: QuestionPrior | None, *, embedder: Embedder | None = None,
                 memory: PolicyMemory | None = None) -> None:
        self.prior = prior
        self.zero_shot = ZeroShotHeuristic(embedder)
        self.memory = memory or PolicyMemory(None)
        self.templates = TemplateOptimizer()
        self._lock = threading.Lock()
        self._posterior: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # attribute: (mean, covariance)

    # -- features ---------------------------------------------------------------------------
    def _question_levels(self, question: str, attributes: Sequence[str]) -> np.ndarray:
        levels = self.prior.predict([question], attributes)[0] if self.prior is not None else np.full(len(attributes), np.nan)
        for j, name in enumerate(attributes):
            if np.isnan(levels[j]):
                attribute = get_attribute(name)
                levels[j] = (attribute.low + attribute.high) / 2
        return levels

    def features(self, question: str, prompts: Sequence[str], attributes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The design rows, shape (len(prompts), len(attributes), FEATURES), and the question's prior levels."""
        p = self._question_levels(question, attributes)
        asked = [asks(prompt, tuple(attributes)) for prompt in prompts]
        free_rows = {i: row for row, i in enumerate(
            i for i, a in enumerate(asked) if any(kind == "free" for kind, _ in a.values()))}
        free_levels = self.zero_shot.predict([prompts[i] for i in free_rows], attributes) if free_rows else None
        x = np.zeros((len(prompts), len(attributes), FEATURES))
        for i, prompt in enumerate(prompts):
            phrasing = self.templates.frame_of(prompt, question)
            for j, name in enumerate(attributes):
                kind, level = asked[i][name]
                if level is None:
                    assert free_levels is not None
                    level = float(free_levels[free_rows[i], j])
                k = KINDS.index(kind)
                x[i, j, k] = level - p[j]
                x[i, j, len(KINDS) + k] = 1.0
                if phrasing is not None:
                    x[i, j, 2 * len(KINDS) + phrasing] = 1.0
        return x, p

    # -- the posterior ----------------------------------------------------------------------
    def posterior(self, attribute: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the attribute's coefficients, given everything learned."""
        with self._lock:
            cached = self._posterior.get(attribute)
            if cached is not None:
                return cached
            xtx, xty = self.memory.statistics(attribute, FEATURES)
            noise = D.HEURISTIC_NOISE_SD ** 2
            covariance = np.linalg.inv(_PRIOR_PRECISION + xtx / noise)
            mean = covariance @ (_PRIOR_PRECISION_MEAN + xty / noise)
            self._posterior[attribute] = (mean, covariance)
            return mean, covariance

    def predict_for(self, question: str, prompts: Sequence[str], attributes: Sequence[str]) -> np.ndarray:
        return self.predict_with_spread(question, prompts, attributes)[0]

    def spread_for(self, question: str, prompts: Sequence[str], attributes: Sequence[str]) -> np.ndarray:
        return self.predict_with_spread(question, prompts, attributes)[1]

    def predict_with_spread(self, question: str, prompts: Sequence[str],
                            attributes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted scores and the sd of each prediction (from the coefficients' uncertainty,
        not the noise of one answer), both of shape (len(prompts), len(attributes))."""
        x, p = self.features(question, prompts, attributes)
        means = np.empty((len(prompts), len(attributes)))
        spreads = np.empty_like(means)
        for j, name in enumerate(attributes):
            attribute = get_attribute(name)
            mean, covariance = self.posterior(name)
            rows = x[:, j, :]
            means[:, j] = np.clip(p[j] + rows @ mean, attribute.low, attribute.high)
            spreads[:, j] = np.sqrt(np.einsum("if,fg,ig->i", rows, covariance, rows))
        return means, spreads

    def predict(self, prompts: Sequence[str], attributes: Sequence[str]) -> np.ndarray:
        """Without the question, each prompt stands for its own question."""
        return np.vstack([self.predict_for(p, [p], attributes) for p in prompts]) if len(prompts) \
            else np.zeros((0, len(attributes)))

    def update_for(self, question: str, prompts: Sequence[str], scores: np.ndarray, attributes: Sequence[str]) -> None:
        scores = np.asarray(scores, dtype=float)
        x, p = self.features(question, prompts, attributes)
        for j, name in enumerate(attributes):
            finite = np.isfinite(scores[:, j])
            if finite.any():
                rows, target = x[finite, j, :], scores[finite, j] - p[j]
                self.memory.add(name, rows.T @ rows, rows.T @ target, int(finite.sum()))
        with self._lock:
            self._posterior.clear()

    def update(self, prompts: Sequence[str], scores: np.ndarray, attributes: Sequence[str]) -> None:
        for prompt, row in zip(prompts, np.asarray(scores, dtype=float)):
            self.update_for(prompt, [prompt], row[None, :], attributes)
