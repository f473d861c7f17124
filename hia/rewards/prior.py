"""What answers to a question tend to look like, before any instruction: the question prior.

A question that draws long answers ("Write a short story about ...") should be predicted to draw
a longer answer than "What is the capital of Australia?" under the same rubric. The prior is a
ridge regression from the question's embedding to the mean level, on each attribute's scale, of
rated responses to that question: for verbosity and complexity, the rubric level the responses
measure (their word count and reading grade, as the exact reference measures them). It is fitted
on development-split prompts only (`hia train-prior`, hia.training.prior), and one ships with hia.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from hia.core.attributes import get_attribute
from hia.errors import RewardModelError
from hia.models.embeddings import Embedder, shared_embedder
from hia.rewards.model_files import read_model_file, write_model_file

FORMAT = "hia.question_prior"
VERSION = 1


class QuestionPrior:
    """Per attribute, the level answers to a question tend to have: intercept + w . (e - mean),
    with e the question's embedding. Attributes it was not fitted for get None (no prior)."""

    def __init__(self, mean: np.ndarray, weights: dict[str, np.ndarray], intercepts: dict[str, float], *,
                 metadata: dict | None = None, embedder: Embedder | None = None) -> None:
        self.mean = np.asarray(mean, dtype=float)
        self.weights = {k: np.asarray(v, dtype=float) for k, v in weights.items()}
        self.intercepts = {k: float(v) for k, v in intercepts.items()}
        self.metadata = dict(metadata or {})
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = shared_embedder()
        return self._embedder

    @property
    def attributes(self) -> list[str]:
        return sorted(self.weights)

    def predict(self, questions: Sequence[str], attributes: Sequence[str]) -> np.ndarray:
        """Shape (len(questions), len(attributes)); NaN where the prior has no model of an attribute."""
        out = np.full((len(questions), len(attributes)), np.nan)
        known = [j for j, a in enumerate(attributes) if a in self.weights]
        if not known or not len(questions):
            return out
        centred = self.embedder.embed(list(questions)) - self.mean
        for j in known:
            name = attributes[j]
            attribute = get_attribute(name)
            out[:, j] = np.clip(self.intercepts[name] + centred @ self.weights[name], attribute.low, attribute.high)
        return out

    @classmethod
    def fit(cls, embeddings: np.ndarray, targets: dict[str, np.ndarray], alphas: dict[str, float], *,
            metadata: dict | None = None, embedder: Embedder | None = None) -> "QuestionPrior":
        """Ridge per attribute on centred embeddings (the intercept is the targets' mean, unshrunk)."""
        x = np.asarray(embeddings, dtype=float)
        mean = x.mean(axis=0)
        centred = x - mean
        weights, intercepts = {}, {}
        for name, y in targets.items():
            y = np.asarray(y, dtype=float)
            gram = centred.T @ centred + alphas[name] * np.eye(centred.shape[1])
            weights[name] = np.linalg.solve(gram, centred.T @ (y - y.mean()))
            intercepts[name] = float(y.mean())
        return cls(mean, weights, intercepts, metadata=metadata, embedder=embedder)

    def save(self, path: str | Path) -> Path:
        return write_model_file(path, {
            "format": FORMAT, "version": VERSION, "mean": self.mean.round(6).tolist(),
            "weights": {k: v.round(6).tolist() for k, v in self.weights.items()},
            "intercepts": self.intercepts, "metadata": self.metadata})

    @classmethod
    def load(cls, path: str | Path, *, embedder: Embedder | None = None) -> "QuestionPrior":
        data = read_model_file(path, what="question prior", format=FORMAT, versions={"version": VERSION},
                               remedy="make one with `hia train-prior`")
        try:
            mean = np.array(data["mean"], float)
            weights = {str(k): np.array(v, float) for k, v in data["weights"].items()}
            intercepts = {str(k): float(v) for k, v in data["intercepts"].items()}
            if any(w.shape != mean.shape for w in weights.values()) or set(weights) != set(intercepts):
                raise ValueError("weights that do not match the mean or the intercepts")
            if not np.isfinite(mean).all() or not all(np.isfinite(w).all() for w in weights.values()):
                raise ValueError("non-finite numbers")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RewardModelError(f"{path}: a damaged question prior ({exc}); make it again with `hia train-prior`") \
                from None
        return cls(mean, weights, intercepts, metadata=data.get("metadata", {}), embedder=embedder)
