"""In-process fakes for pure-logic tests. Integration tests use the real parts."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from hia import Goal, HeuristicRewardModel, PromptOptimizer, ReferenceRewardModel
from hia.models.embeddings import Embedder


class HashEmbedder(Embedder):
    """Deterministic unit vectors from a text hash: equal texts are equal, others near-orthogonal."""

    def __init__(self) -> None:
        super().__init__("hash")
        self.calls = 0

    def _load(self):  # pragma: no cover - never loads a model
        raise AssertionError("HashEmbedder loads no model")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(" ".join(text.split()).casefold().encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).normal(size=64)
            rows.append(v / np.linalg.norm(v))
        return np.array(rows)


class LengthReference(ReferenceRewardModel):
    """Scores every attribute by answer length: 0 at <=2 words, +1 per 10 words, capped at 4."""

    def __init__(self) -> None:
        self.calls = 0

    def score(self, prompts, responses, attributes, *, usage=None):
        self.calls += 1
        values = [min(4.0, max(0.0, (len(r.split()) - 2) / 10)) for r in responses]
        return np.array([[v] * len(attributes) for v in values])


class PerAttributeReference(ReferenceRewardModel):
    """Scores each attribute by a different measure, so a mixed-up column shows: verbosity is words / 10,
    helpfulness characters / 100, anything else 1.0 (each capped at 4)."""

    MEASURES = {"verbosity": lambda r: len(r.split()) / 10, "helpfulness": lambda r: len(r) / 100}

    def __init__(self) -> None:
        self.calls = 0

    def score(self, prompts, responses, attributes, *, usage=None):
        self.calls += 1
        return np.array([[min(4.0, self.MEASURES.get(a, lambda r: 1.0)(r)) for a in attributes] for r in responses])


class KeywordHeuristic(HeuristicRewardModel):
    """Predicts 4 for prompts containing 'long', 0 for 'short', else 2."""

    def predict(self, prompts, attributes):
        def one(p: str) -> float:
            return 4.0 if "long" in p else 0.0 if "short" in p else 2.0
        return np.array([[one(p)] * len(attributes) for p in prompts])


def echo_policy(prompt: str, seed: int = 0) -> str:
    """Answers with as many words as the prompt asks for: 'long' 40, 'short' 3, else 20."""
    n = 40 if "long" in prompt else 3 if "short" in prompt else 20
    return " ".join(f"w{seed}" for _ in range(n))


class FixedOptimizer(PromptOptimizer):
    """Proposes the same fixed prompts every time, counting each proposal as one optimizer call."""

    def __init__(self, prompts: Sequence[str]) -> None:
        self.prompts = list(prompts)

    async def propose(self, prompt: str, goal: Goal, n: int, *, original=None, feedback=None, usage=None) -> list[str]:
        if usage is not None:
            usage.record_call("optimizer")
        return self.prompts[:n]
