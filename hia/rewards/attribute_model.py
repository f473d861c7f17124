"""A trained reference reward model: (prompt, response) -> HelpSteer's five attribute scores.

Ridge regression per attribute on plain text statistics (length, sentences, readability, lists,
refusal cues; see features.py), optionally with the first principal components of the prompt
and response embeddings. On the 500-row HelpSteer sample the embeddings did not help under
prompt-grouped cross-validation (they overfit), so `features="stats"` is the default; the
training command reports both.

Ridge shrinks its predictions toward the mean: uncalibrated, nine in ten verbosity predictions
fell between 0.5 and 2.3 (out of fold) where the labels run from 0 to 3.
So the ridge output is mapped onto the label scale by a strictly increasing curve fitted on
*out-of-fold* predictions (each row predicted by a model that never saw its prompt): quantile
matching, which gives those predictions the distribution of the labels (see calibration_curve).
Isotonic regression was tried first and barely moved the spread (0.52 to 2.25), because it maps
to the mean label at each prediction, and a noisy predictor's means are compressed too. Being
monotone, the map leaves the ranking of answers, and so the Spearman correlation, as it was.

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

from hia import _defaults as D
from hia.core.usage import Usage
from hia.errors import InputError, RewardModelError
from hia.models.embeddings import Embedder, shared_embedder
from hia.rewards.base import ReferenceRewardModel
from hia.rewards.features import FEATURE_NAMES, text_stats_matrix
from hia.rewards.model_files import read_model_file, write_model_file

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
    # attribute -> (knots on the ridge scale, values on the label scale); see calibration_curve
    calibration: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
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
            features: str = "stats", pca_components: int = D.REFERENCE_PCA_COMPONENTS,
            alphas: Sequence[float] = D.REFERENCE_RIDGE_ALPHAS, low: float = D.SCALE_LOW, high: float = D.SCALE_HIGH,
            embedder: Embedder | None = None, calibrate_folds: int = D.CV_FOLDS) -> "AttributeModel":
        """Fit the ridge per attribute, then (unless `calibrate_folds` is 0) the map onto the label
        scale, on out-of-fold predictions from `calibrate_folds` folds grouped by prompt."""
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
        model = cls(list(attributes), features, low, high, mean, scale, coef, intercept, components, components_mean,
                    metadata, embedder=embedder)
        calibrate_folds = min(calibrate_folds, len(set(prompts)))
        if calibrate_folds >= 2:  # out-of-fold predictions need at least two groups of prompts
            raw, _ = out_of_fold(prompts, responses, targets, attributes, folds=calibrate_folds, features=features,
                                 embedder=embedder, calibrate_folds=0)
            model.calibration = {name: calibration_curve(raw[:, j], targets[:, j], low, high)
                                 for j, name in enumerate(attributes)}
            model.metadata["calibration_folds"] = calibrate_folds
        return model

    # -- scoring -------------------------------------------------------------------------------
    def predict(self, prompts: Sequence[str], responses: Sequence[str], *, calibrated: bool = True) -> np.ndarray:
        """All attributes, shape (n, len(self.attributes)), on the label scale (or the raw ridge
        output, clipped, with `calibrated=False`)."""
        if not len(responses):
            return np.zeros((0, len(self.attributes)))
        x = self.feature_matrix(prompts, responses, self.features, self.embedder, self.components, self.components_mean)
        raw = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        if calibrated:
            for j, name in enumerate(self.attributes):
                if name in self.calibration:
                    raw[:, j] = apply_curve(raw[:, j], *self.calibration[name])
        return np.clip(raw, self.low, self.high)

    def agreement(self, attribute: str) -> float | None:
        cv = self.metadata.get("cv", {}).get(attribute, {})
        value = cv.get("spearman")
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

    def score(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
              usage: Usage | None = None) -> np.ndarray:
        missing = [a for a in attributes if a not in self.attributes]
        if missing:
            raise RewardModelError(f"this attribute model cannot score {missing}; it knows {self.attributes}")
        full = self.predict(prompts, responses)
        return full[:, [self.attributes.index(a) for a in attributes]]

    @property
    def fingerprint(self) -> str:
        """A hash of everything that decides a score (coefficients, scale map), for cache keys."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    # -- files ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        def arr(a: np.ndarray | None) -> list | None:
            return None if a is None else np.asarray(a).tolist()

        return {"format": FORMAT, "feature_version": FEATURE_VERSION, "features": self.features,
                "attributes": self.attributes, "low": self.low, "high": self.high, "mean": arr(self.mean),
                "scale": arr(self.scale), "coef": arr(self.coef), "intercept": arr(self.intercept),
                "components": arr(self.components), "components_mean": arr(self.components_mean),
                "calibration": {name: [arr(k), arr(v)] for name, (k, v) in self.calibration.items()},
                "metadata": self.metadata}

    def save(self, path: str | Path) -> Path:
        return write_model_file(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path, *, embedder: Embedder | None = None) -> "AttributeModel":
        path = Path(path)
        data = read_model_file(path, what="attribute model", format=FORMAT, versions={"feature_version": FEATURE_VERSION},
                               remedy="train one with `hia train-reference`")
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
                calibration={str(name): (np.array(k, float), np.array(v, float))
                             for name, (k, v) in (data.get("calibration") or {}).items()},
            )
            curves_ok = all(len(k) == len(v) >= 2 and np.all(np.diff(k) > 0) and np.all(np.diff(v) >= 0)
                            and np.isfinite(k).all() and np.isfinite(v).all() and name in attributes
                            for name, (k, v) in model.calibration.items())
            shapes_ok = (data["features"] in FEATURE_SETS and model.mean.shape == model.scale.shape == (n_features,)
                         and model.coef.shape == (n_features, len(attributes)) and model.intercept.shape == (len(attributes),))
        except (KeyError, TypeError, ValueError) as exc:
            raise RewardModelError(f"{path}: damaged attribute model ({type(exc).__name__}: {exc}); retrain it") from None
        if not shapes_ok or not curves_ok or not all(math.isfinite(v) for v in np.concatenate([model.coef.ravel(), model.intercept])):
            raise RewardModelError(f"{path}: damaged attribute model (arrays of the wrong shape or not finite); retrain it")
        return model


def check_folds(folds: int, groups: int, what: str) -> None:
    """Grouped cross-validation needs at least 2 folds and no more folds than groups."""
    if isinstance(folds, bool) or not isinstance(folds, int) or not 2 <= folds <= groups:
        raise InputError(f"folds must be a whole number from 2 to the number of distinct {what} ({groups}), "
                         f"got {folds!r}")


def out_of_fold(prompts: Sequence[str], responses: Sequence[str], targets: np.ndarray, attributes: Sequence[str], *,
                folds: int, features: str = "stats", embedder: Embedder | None = None,
                calibrate_folds: int = D.CV_FOLDS) -> tuple[np.ndarray, np.ndarray]:
    """Each row predicted by a model fitted on the other folds (grouped by prompt, so no prompt is
    on both sides), and the training mean of each fold (the do-nothing baseline)."""
    from sklearn.model_selection import GroupKFold

    targets = np.asarray(targets, dtype=float)
    groups = np.unique(np.asarray(prompts), return_inverse=True)[1]
    predicted = np.zeros_like(targets)
    baseline = np.zeros_like(targets)
    for train, test in GroupKFold(folds).split(targets, targets, groups):
        model = AttributeModel.fit([prompts[i] for i in train], [responses[i] for i in train], targets[train],
                                   attributes, features=features, embedder=embedder, calibrate_folds=calibrate_folds)
        predicted[test] = model.predict([prompts[i] for i in test], [responses[i] for i in test])
        baseline[test] = targets[train].mean(0)
    return predicted, baseline


def calibration_curve(predicted: np.ndarray, actual: np.ndarray, low: float, high: float,
                      points: int = D.SCALE_MAP_QUANTILES) -> tuple[np.ndarray, np.ndarray]:
    """A strictly increasing map that gives out-of-fold predictions the distribution of the labels.

    Quantile matching: the q-th quantile of the predictions goes to the q-th quantile of the labels.
    Whole-number labels are read as spread evenly over their half-unit band (a 2 over 1.5..2.5), so
    the label quantiles, and the map, have no flat steps. Past the outermost knots `apply_curve`
    goes on with the outermost slopes, so an answer longer than any in training can score higher."""
    x = np.asarray(predicted, float)
    y = np.sort(np.asarray(actual, float))
    spread_labels = np.empty_like(y)
    for value in np.unique(y):
        where = np.flatnonzero(y == value)
        lo, hi = max(low, value - 0.5), min(high, value + 0.5)
        spread_labels[where] = lo + (hi - lo) * (np.arange(len(where)) + 0.5) / len(where)
    probabilities = np.linspace(0, 1, points)
    knots, values = np.quantile(x, probabilities), np.quantile(spread_labels, probabilities)
    keep = np.concatenate([[True], np.diff(knots) > 1e-9])  # equal predictions cannot map apart
    knots, values = knots[keep], values[keep]
    if len(knots) < 2 or not np.ptp(values) > 0:  # nothing to learn: keep the ridge output
        return np.array([low, high]), np.array([low, high])
    return knots, values


def apply_curve(raw: np.ndarray, knots: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear between knots, and past the ends along the slope of the outermost segments."""
    out = np.interp(raw, knots, values)
    first = (values[1] - values[0]) / (knots[1] - knots[0])
    last = (values[-1] - values[-2]) / (knots[-1] - knots[-2])
    out = np.where(raw < knots[0], values[0] + (raw - knots[0]) * first, out)
    return np.where(raw > knots[-1], values[-1] + (raw - knots[-1]) * last, out)


def spread(values: np.ndarray) -> list[float]:
    """The 5th and 95th percentiles: where nine in ten scores fall."""
    return [round(float(v), 2) for v in np.percentile(np.asarray(values, float), [5, 95])]


def grouped_cv(prompts: Sequence[str], responses: Sequence[str], targets: np.ndarray, attributes: Sequence[str], *,
               features: str = "stats", folds: int = D.CV_FOLDS, embedder: Embedder | None = None) -> dict[str, dict]:
    """Cross-validation with folds grouped by prompt: no prompt is in both train and test.

    Returns per attribute: Spearman and mean absolute error of the calibrated model (its label-scale
    map fitted inside each training fold, so nothing about a test row leaks into it), the MAE of
    predicting the training mean, the same Spearman and MAE before calibration, and the spread
    (5th to 95th percentile) of predictions before and after, beside that of the labels."""
    from hia.core.stats import spearman

    check_folds(folds, len(set(prompts)), "prompts")
    targets = np.asarray(targets, dtype=float)
    raw, baseline = out_of_fold(prompts, responses, targets, attributes, folds=folds, features=features,
                                embedder=embedder, calibrate_folds=0)
    calibrated, _ = out_of_fold(prompts, responses, targets, attributes, folds=folds, features=features,
                                embedder=embedder, calibrate_folds=folds)
    report = {}
    for j, name in enumerate(attributes):
        report[name] = {
            "spearman": spearman(calibrated[:, j], targets[:, j]),
            "mae": round(float(np.abs(calibrated[:, j] - targets[:, j]).mean()), 3),
            "mae_of_mean": round(float(np.abs(baseline[:, j] - targets[:, j]).mean()), 3),
            "spearman_uncalibrated": spearman(raw[:, j], targets[:, j]),
            "mae_uncalibrated": round(float(np.abs(raw[:, j] - targets[:, j]).mean()), 3),
            "spread_uncalibrated": spread(raw[:, j]),
            "spread": spread(calibrated[:, j]),
            "spread_of_labels": spread(targets[:, j]),
        }
    return report
