"""A trained reference reward model: (prompt, response) -> HelpSteer's five attribute scores.

Ridge regression per attribute on plain text statistics (length, sentences, readability, lists,
refusal cues; see features.py), optionally with the first principal components of the prompt
and response embeddings. On the 500-row HelpSteer sample the embeddings did not help under
prompt-grouped cross-validation (they overfit), so `features="stats"` is the default; the
training command reports both.

The model is stored as a small JSON file of coefficients and metadata (training-data hash,
feature version, cross-validation figures): no pickle, so loading never runs code and a
damaged file gives a clear RewardModelError.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import RewardModelError
from ..usage import Usage
from .base import ReferenceRewardModel
from .embeddings import Embedder, shared_embedder
from .features import FEATURE_NAMES, text_stats_matrix

FORMAT = "hia.attribute_model"
FEATURE_VERSION = 1
FEATURE_SETS = ("stats", "stats+embeddings")


def data_hash(prompts: Sequence[str], responses: Sequence[str], targets: np.ndarray) -> str:
    digest = hashlib.sha256()
    for p, r, y in zip(prompts, responses, np.asarray(targets).tolist()):
        digest.update(json.dumps([p, r, y]).encode())
    return digest.hexdigest()


@dataclass
class AttributeModel(ReferenceRewardModel):
    attributes: list[str]
    features: str
    low: float
    high: float
    mean: np.ndarray  # feature standardisation
    scale: np.ndarray
    coef: np.ndarray  # (n_features, n_attributes)
    intercept: np.ndarray  # (n_attributes,)
    components: np.ndarray | None = None  # PCA of [response, prompt] embeddings, (k, 2 * dim)
    components_mean: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    embedder: Embedder | None = field(default=None, repr=False)

    # -- features ------------------------------------------------------------------------------
    @staticmethod
    def feature_matrix(prompts: Sequence[str], responses: Sequence[str], features: str, embedder: Embedder | None,
                       components: np.ndarray | None, components_mean: np.ndarray | None) -> np.ndarray:
        stats = text_stats_matrix(responses, prompts)
        if features == "stats":
            return stats
        embedder = embedder or shared_embedder()
        joint = np.hstack([embedder.embed(list(responses)), embedder.embed(list(prompts))])
        assert components is not None and components_mean is not None
        return np.hstack([(joint - components_mean) @ components.T, stats])

    # -- training ------------------------------------------------------------------------------
    @classmethod
    def fit(cls, prompts: Sequence[str], responses: Sequence[str], targets: np.ndarray, attributes: Sequence[str], *,
            features: str = "stats", pca_components: int = 8, alphas: Sequence[float] = tuple(np.logspace(-1, 4, 12)),
            low: float = 0.0, high: float = 4.0, embedder: Embedder | None = None) -> "AttributeModel":
        from sklearn.decomposition import PCA
        from sklearn.linear_model import RidgeCV

        if features not in FEATURE_SETS:
            raise ValueError(f"features must be one of {FEATURE_SETS}, got {features!r}")
        targets = np.asarray(targets, dtype=float)
        components = components_mean = None
        if features == "stats+embeddings":
            embedder = embedder or shared_embedder()
            joint = np.hstack([embedder.embed(list(responses)), embedder.embed(list(prompts))])
            pca = PCA(pca_components, random_state=0).fit(joint)
            components, components_mean = pca.components_, pca.mean_
        x = cls.feature_matrix(prompts, responses, features, embedder, components, components_mean)
        mean, scale = x.mean(0), x.std(0)
        scale[scale == 0] = 1.0
        z = (x - mean) / scale
        coef = np.zeros((z.shape[1], len(attributes)))
        intercept = np.zeros(len(attributes))
        chosen_alphas = {}
        for j, name in enumerate(attributes):
            ridge = RidgeCV(alphas=list(alphas)).fit(z, targets[:, j])
            coef[:, j], intercept[j] = ridge.coef_, ridge.intercept_
            chosen_alphas[name] = float(ridge.alpha_)
        metadata = {"rows": len(prompts), "data_sha256": data_hash(prompts, responses, targets),
                    "alphas": chosen_alphas, "feature_names": list(FEATURE_NAMES)}
        return cls(list(attributes), features, low, high, mean, scale, coef, intercept, components, components_mean,
                   metadata, embedder)

    # -- scoring -------------------------------------------------------------------------------
    def predict(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """All attributes, shape (n, len(self.attributes)), clipped to the scale."""
        if not len(responses):
            return np.zeros((0, len(self.attributes)))
        x = self.feature_matrix(prompts, responses, self.features, self.embedder, self.components, self.components_mean)
        return np.clip(((x - self.mean) / self.scale) @ self.coef + self.intercept, self.low, self.high)

    def score(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
              usage: Usage | None = None) -> np.ndarray:
        missing = [a for a in attributes if a not in self.attributes]
        if missing:
            raise RewardModelError(f"this attribute model cannot score {missing}; it knows {self.attributes}")
        full = self.predict(prompts, responses)
        return full[:, [self.attributes.index(a) for a in attributes]]

    # -- files ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        def arr(a: np.ndarray | None) -> list | None:
            return None if a is None else np.asarray(a).tolist()

        return {"format": FORMAT, "feature_version": FEATURE_VERSION, "features": self.features,
                "attributes": self.attributes, "low": self.low, "high": self.high, "mean": arr(self.mean),
                "scale": arr(self.scale), "coef": arr(self.coef), "intercept": arr(self.intercept),
                "components": arr(self.components), "components_mean": arr(self.components_mean),
                "metadata": self.metadata}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | Path, *, embedder: Embedder | None = None) -> "AttributeModel":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise RewardModelError(f"{path}: no such model file; train one with `hia train-reference`") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RewardModelError(f"{path}: not a hia attribute model (unreadable JSON: {exc}); retrain it") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RewardModelError(f"{path}: not a hia attribute model (format {data.get('format') if isinstance(data, dict) else None!r})")
        if data.get("feature_version") != FEATURE_VERSION:
            raise RewardModelError(f"{path}: made with feature version {data.get('feature_version')}, this hia uses "
                                   f"{FEATURE_VERSION}; retrain it with `hia train-reference`")
        try:
            attributes = list(data["attributes"])
            n_features = len(FEATURE_NAMES) + (0 if data["features"] == "stats" else len(data["components"]))
            model = cls(
                attributes=attributes, features=data["features"], low=float(data["low"]), high=float(data["high"]),
                mean=np.array(data["mean"], float), scale=np.array(data["scale"], float),
                coef=np.array(data["coef"], float), intercept=np.array(data["intercept"], float),
                components=None if data["components"] is None else np.array(data["components"], float),
                components_mean=None if data["components_mean"] is None else np.array(data["components_mean"], float),
                metadata=dict(data.get("metadata", {})), embedder=embedder,
            )
            shapes_ok = (data["features"] in FEATURE_SETS and model.mean.shape == model.scale.shape == (n_features,)
                         and model.coef.shape == (n_features, len(attributes)) and model.intercept.shape == (len(attributes),))
        except (KeyError, TypeError, ValueError) as exc:
            raise RewardModelError(f"{path}: damaged attribute model ({type(exc).__name__}: {exc}); retrain it") from None
        if not shapes_ok or not all(math.isfinite(v) for v in np.concatenate([model.coef.ravel(), model.intercept])):
            raise RewardModelError(f"{path}: damaged attribute model (arrays of the wrong shape or not finite); retrain it")
        return model


def grouped_cv(prompts: Sequence[str], responses: Sequence[str], targets: np.ndarray, attributes: Sequence[str], *,
               features: str = "stats", folds: int = 5, embedder: Embedder | None = None) -> dict[str, dict[str, float]]:
    """Cross-validation with folds grouped by prompt: no prompt is in both train and test.

    Returns per attribute: Spearman, mean absolute error, and the MAE of predicting the training mean.
    """
    from sklearn.model_selection import GroupKFold

    from ..stats import spearman

    targets = np.asarray(targets, dtype=float)
    groups = np.unique(np.asarray(prompts), return_inverse=True)[1]
    predicted = np.zeros_like(targets)
    baseline = np.zeros_like(targets)
    for train, test in GroupKFold(folds).split(targets, targets, groups):
        model = AttributeModel.fit([prompts[i] for i in train], [responses[i] for i in train], targets[train],
                                   attributes, features=features, embedder=embedder)
        predicted[test] = model.predict([prompts[i] for i in test], [responses[i] for i in test])
        baseline[test] = targets[train].mean(0)
    report = {}
    for j, name in enumerate(attributes):
        report[name] = {
            "spearman": spearman(predicted[:, j], targets[:, j]),
            "mae": round(float(np.abs(predicted[:, j] - targets[:, j]).mean()), 3),
            "mae_of_mean": round(float(np.abs(baseline[:, j] - targets[:, j]).mean()), 3),
        }
    return report
