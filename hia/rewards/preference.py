"""A community preference model: Bradley-Terry on sentence embeddings of (question, answer).

s(q, a) = w · phi(q, a), P(a preferred to b | q) = sigmoid(s(q, a) - s(q, b)), with phi the
cosine similarity of the question's and answer's embeddings plus the answer's text statistics
(length, structure, readability). Fitted per community as a logistic regression on
phi(q, chosen) - phi(q, rejected). Whole embedding vectors as features overfit on the
1,797-pair Stack Exchange sample (pair accuracy 0.58-0.63 against 0.66; see README). As a
reference reward model it scores the attribute `community` on 0-4: the sigmoid of the answer's
standardised score against the training answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hia import _defaults as D
from hia.core.attributes import Attribute, register_attribute
from hia.core.usage import Usage
from hia.data.types import PreferencePair
from hia.errors import RewardModelError
from hia.models.embeddings import Embedder, shared_embedder
from hia.rewards.base import ReferenceRewardModel
from hia.rewards.features import text_stats_matrix
from hia.rewards.model_files import read_model_file, write_model_file

FORMAT = "hia.preference_model"
VERSION = 1
COMMUNITY = Attribute(
    "community", 0, 4, "how much the community would upvote the answer",
    "the community would downvote it", "the community's favourite answer",
    ("an answer the community would downvote: off-topic or wrong", "a weak answer: vague or beside the point",
     "an average answer: relevant but thin", "a good answer: relevant, specific and practical",
     "the community's favourite: specific and practical, with the reasons and the steps"),
    "Quality",
)
register_attribute(COMMUNITY)


def features(questions: Sequence[str], answers: Sequence[str], embedder: Embedder) -> np.ndarray:
    q, a = embedder.embed(list(questions)), embedder.embed(list(answers))
    relevance = (q * a).sum(axis=1, keepdims=True)  # both are unit vectors: cosine similarity
    return np.hstack([relevance, text_stats_matrix(answers, questions)])


@dataclass
class CommunityPreferenceModel(ReferenceRewardModel):
    weights: dict[str, np.ndarray]  # community -> w over standardised features
    mean: np.ndarray
    scale: np.ndarray
    centre: dict[str, float]  # community -> median score of its training answers
    spread: dict[str, float]
    community: str  # the one `score` uses
    metadata: dict = field(default_factory=dict)
    embedder: Embedder | None = field(default=None, repr=False)

    @classmethod
    def fit(cls, pairs: Sequence[PreferencePair], *, c: float = D.PREFERENCE_C, min_pairs: int = D.PREFERENCE_MIN_PAIRS,
            embedder: Embedder | None = None) -> "CommunityPreferenceModel":
        """One model per community with at least `min_pairs` pairs, plus `all` pooled over every pair."""
        from sklearn.linear_model import LogisticRegression

        if not pairs:
            raise RewardModelError("no preference pairs to train on")
        embedder = embedder or shared_embedder()
        chosen = features([p.prompt for p in pairs], [p.chosen for p in pairs], embedder)
        rejected = features([p.prompt for p in pairs], [p.rejected for p in pairs], embedder)
        both = np.vstack([chosen, rejected])
        mean, scale = both.mean(0), both.std(0)
        scale[scale == 0] = 1.0
        diff = (chosen - rejected) / scale
        communities = {"all": np.arange(len(pairs))}
        for name in sorted({p.community or "all" for p in pairs}):
            rows = np.array([i for i, p in enumerate(pairs) if (p.community or "all") == name])
            if len(rows) >= min_pairs and name != "all":
                communities[name] = rows
        weights, centre, spread = {}, {}, {}
        for name, rows in communities.items():
            # Each pair both ways, so the fit is symmetric and needs no intercept.
            x = np.vstack([diff[rows], -diff[rows]])
            y = np.r_[np.ones(len(rows)), np.zeros(len(rows))]
            w = LogisticRegression(C=c, fit_intercept=False, max_iter=2000).fit(x, y).coef_[0]
            answer_scores = np.r_[(chosen[rows] - mean) / scale @ w, (rejected[rows] - mean) / scale @ w]
            weights[name], centre[name] = w, float(np.median(answer_scores))
            spread[name] = float(answer_scores.std() or 1.0)
        default = max((n for n in communities if n != "all"), key=lambda n: len(communities[n]), default="all")
        return cls(weights, mean, scale, centre, spread, default,
                   {"pairs": {n: int(len(r)) for n, r in communities.items()}}, embedder)

    def raw_scores(self, questions: Sequence[str], answers: Sequence[str], community: str | None = None) -> np.ndarray:
        name = community or self.community
        if name not in self.weights:
            raise RewardModelError(f"no preference model for community {name!r}; trained: {sorted(self.weights)}")
        x = features(questions, answers, self.embedder or shared_embedder())
        return (x - self.mean) / self.scale @ self.weights[name]

    def score(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
              usage: Usage | None = None) -> np.ndarray:
        if list(attributes) != ["community"]:
            raise RewardModelError(f"a community preference model scores only 'community', not {list(attributes)}")
        if not len(responses):
            return np.zeros((0, 1))
        raw = self.raw_scores(prompts, responses)
        z = (raw - self.centre[self.community]) / self.spread[self.community]
        return (4.0 / (1.0 + np.exp(-z))).reshape(-1, 1)

    def save(self, path: str | Path) -> Path:
        return write_model_file(path, {
            "format": FORMAT, "version": VERSION, "weights": {k: v.tolist() for k, v in self.weights.items()},
            "mean": self.mean.tolist(), "scale": self.scale.tolist(), "centre": self.centre, "spread": self.spread,
            "community": self.community, "metadata": self.metadata})

    @classmethod
    def load(cls, path: str | Path, *, community: str | None = None, embedder: Embedder | None = None) -> "CommunityPreferenceModel":
        path = Path(path)
        data = read_model_file(path, what="preference model", format=FORMAT, versions={"version": VERSION},
                               remedy="train one with `hia train-preference`")
        try:
            mean, scale = np.array(data["mean"], float), np.array(data["scale"], float)
            weights = {k: np.array(v, float) for k, v in data["weights"].items()}
            if any(w.shape != mean.shape for w in weights.values()) or scale.shape != mean.shape:
                raise ValueError("arrays of the wrong shape")
            if not all(math.isfinite(x) for w in weights.values() for x in w):
                raise ValueError("non-finite weights")
            model = cls(weights, mean, scale, {k: float(v) for k, v in data["centre"].items()},
                        {k: float(v) for k, v in data["spread"].items()}, community or data["community"],
                        data.get("metadata", {}), embedder)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RewardModelError(f"{path}: not a usable hia preference model ({exc}); retrain it") from None
        if model.community not in model.weights:
            raise RewardModelError(f"{path}: no model for community {model.community!r}; it has {sorted(model.weights)}")
        return model


def pair_accuracy_cv(pairs: Sequence[PreferencePair], *, folds: int = D.CV_FOLDS, embedder: Embedder | None = None,
                     **fit_kwargs: float) -> dict[str, float]:
    """Pair accuracy under cross-validation grouped by question (no question in train and test).

    Reported per community (with that community's model) and for the pooled model."""
    from sklearn.model_selection import GroupKFold

    from hia.rewards.attribute_model import check_folds

    check_folds(folds, len({p.prompt for p in pairs}), "questions")
    groups = np.unique([p.prompt for p in pairs], return_inverse=True)[1]
    correct: dict[str, list[bool]] = {}
    for train, test in GroupKFold(folds).split(np.zeros(len(pairs)), groups=groups):
        model = CommunityPreferenceModel.fit([pairs[i] for i in train], embedder=embedder, **fit_kwargs)
        test_pairs = [pairs[i] for i in test]
        for name in {p.community or "all" for p in test_pairs} | {"all"}:
            chosen = [p for p in test_pairs if name == "all" or (p.community or "all") == name]
            if not chosen:
                continue
            use = name if name in model.weights else "all"
            gain = (model.raw_scores([p.prompt for p in chosen], [p.chosen for p in chosen], use)
                    - model.raw_scores([p.prompt for p in chosen], [p.rejected for p in chosen], use))
            correct.setdefault(name, []).extend((gain > 0).tolist())
    return {name: round(float(np.mean(v)), 3) for name, v in sorted(correct.items())} | {
        "pairs": float(len(pairs))}
