"""A heuristic reward model that learns from the policy's real answers.

Prediction = a base heuristic (the zero-shot one) + a ridge correction fitted on evidence:
(prompt, reference scores of the answer the policy gave to it). With no evidence it is the base;
each piece of evidence pulls it toward what this policy, judged by this reference, really does.
Features are the prompt's embedding plus a few cues (length, question marks, style words).

Memory is bounded: the newest `max_evidence` examples are kept. The file format is JSON holding
the evidence itself (prompts and scores), so a saved heuristic goes on learning after loading.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from pathlib import Path
from typing import Sequence

import numpy as np

from hia import _defaults as D
from hia.core.attributes import requested_levels
from hia.errors import RewardModelError
from hia.models.embeddings import Embedder, shared_embedder
from hia.rewards.base import HeuristicRewardModel
from hia.rewards.heuristic import CUES, ZeroShotHeuristic
from hia.rewards.model_files import read_model_file, write_model_file

FORMAT = "hia.learned_heuristic"
VERSION = 1


def cue_features(prompt: str) -> list[float]:
    """Length, question marks, style cues, and the rubric level asked for (centred; 0 when none is quoted)."""
    values = [math.log1p(len(prompt.split())), float(prompt.count("?"))]
    for high, low in CUES.values():
        values.append(float(len(re.findall(high, prompt, re.IGNORECASE)) - len(re.findall(low, prompt, re.IGNORECASE))))
    asked = requested_levels(prompt, list(CUES))
    for name in CUES:
        values.append(asked[name] - 2.0 if name in asked else 0.0)
    return values


class LearnedHeuristic(HeuristicRewardModel):
    def __init__(self, embedder: Embedder | None = None, *, base: HeuristicRewardModel | None = None,
                 alpha: float = D.LEARNED_HEURISTIC_ALPHA, max_evidence: int = D.LEARNED_HEURISTIC_MAX_EVIDENCE,
                 min_evidence: int = D.LEARNED_HEURISTIC_MIN_EVIDENCE) -> None:
        self.embedder = embedder or shared_embedder()
        self.base = base or ZeroShotHeuristic(self.embedder)
        self.alpha = alpha  # ridge penalty: larger trusts the base more
        self.max_evidence = max_evidence
        self.min_evidence = min_evidence  # below this many examples of an attribute, use the base alone
        self.evidence: deque[tuple[str, dict[str, float]]] = deque(maxlen=max_evidence)
        self.metadata: dict = {}
        self._weights: dict[str, np.ndarray] = {}
        self._stale = True
        self._lock = threading.Lock()

    def _features(self, prompts: Sequence[str]) -> np.ndarray:
        cues = np.array([cue_features(p) for p in prompts]).reshape(len(prompts), -1)
        return np.hstack([self.embedder.embed(list(prompts)), cues, np.ones((len(prompts), 1))])

    def update(self, prompts: Sequence[str], scores: np.ndarray, attributes: Sequence[str]) -> None:
        scores = np.asarray(scores, dtype=float)
        with self._lock:
            for prompt, row in zip(prompts, scores):
                if np.all(np.isfinite(row)):
                    self.evidence.append((prompt, {a: float(v) for a, v in zip(attributes, row)}))
            self._stale = True

    def _refit(self) -> None:
        """Ridge on the residual (reference - base), per attribute with enough evidence."""
        self._weights = {}
        if not self.evidence:
            return
        prompts = [p for p, _ in self.evidence]
        x = self._features(prompts)
        names = sorted({a for _, s in self.evidence for a in s})
        base = self.base.predict(prompts, names)
        for j, name in enumerate(names):
            rows = [i for i, (_, s) in enumerate(self.evidence) if name in s]
            if len(rows) < self.min_evidence:
                continue
            xs = x[rows]
            residual = np.array([self.evidence[i][1][name] for i in rows]) - base[rows, j]
            penalty = self.alpha * np.eye(xs.shape[1])
            penalty[-1, -1] = 0.0  # the bias is not shrunk: a systematic offset is learnt freely
            self._weights[name] = np.linalg.solve(xs.T @ xs + penalty, xs.T @ residual)
        self._stale = False

    def predict(self, prompts: Sequence[str], attributes: Sequence[str]) -> np.ndarray:
        with self._lock:
            if self._stale:
                self._refit()
            weights = dict(self._weights)
        out = np.asarray(self.base.predict(prompts, attributes), dtype=float).copy()
        if weights and len(prompts):
            x = self._features(prompts)
            for j, name in enumerate(attributes):
                if name in weights:
                    out[:, j] += x @ weights[name]
        return np.clip(out, 0.0, 4.0)

    def save(self, path: str | Path) -> Path:
        with self._lock:
            data = {"format": FORMAT, "version": VERSION, "alpha": self.alpha, "max_evidence": self.max_evidence,
                    "min_evidence": self.min_evidence, "metadata": self.metadata,
                    "evidence": [{"prompt": p, "scores": s} for p, s in self.evidence]}
        return write_model_file(path, data)

    @classmethod
    def load(cls, path: str | Path, *, embedder: Embedder | None = None) -> "LearnedHeuristic":
        path = Path(path)
        data = read_model_file(path, what="learned heuristic", format=FORMAT, versions={"version": VERSION},
                               remedy="make one with `hia calibrate`")
        try:
            model = cls(embedder, alpha=float(data["alpha"]), max_evidence=int(data["max_evidence"]),
                        min_evidence=int(data["min_evidence"]))
            for item in data["evidence"]:
                scores = {str(k): float(v) for k, v in item["scores"].items()}
                if not isinstance(item["prompt"], str) or not all(math.isfinite(v) for v in scores.values()):
                    raise ValueError("evidence with a non-text prompt or a non-finite score")
                model.evidence.append((item["prompt"], scores))
            model.metadata = dict(data.get("metadata", {}))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RewardModelError(f"{path}: damaged heuristic file ({exc}); recalibrate") from None
        return model
