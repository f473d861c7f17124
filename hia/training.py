"""Training the reward models from rated data: what `hia train-reference` and friends run."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from . import _defaults as D
from .data import load_helpsteer
from .data.helpsteer import ATTRIBUTES
from .rewards.attribute_model import AttributeModel, grouped_cv

DEFAULT_REFERENCE_FILE = "helpsteer_reference.json"


def packaged_reference_path() -> Path:
    """The attribute model shipped with hia (trained on the 500-row HelpSteer sample)."""
    return Path(str(resources.files("hia") / "models" / DEFAULT_REFERENCE_FILE))


def default_reference(path: str | Path | None = None) -> AttributeModel:
    """The trained HelpSteer attribute model: `path`, or the one shipped with hia."""
    return AttributeModel.load(path or packaged_reference_path())


def train_reference(data: str | Path, *, features: str = "stats", folds: int = D.CV_FOLDS,
                    skip_invalid: bool = False) -> tuple[AttributeModel, dict]:
    """Fit the attribute model on every row and measure it by prompt-grouped cross-validation."""
    loaded = load_helpsteer(data, skip_invalid=skip_invalid)
    prompts = [r.prompt for r in loaded.rows]
    responses = [r.response for r in loaded.rows]
    targets = np.array([[r.scores[a] for a in ATTRIBUTES] for r in loaded.rows])
    report = grouped_cv(prompts, responses, targets, ATTRIBUTES, features=features, folds=folds)
    model = AttributeModel.fit(prompts, responses, targets, ATTRIBUTES, features=features)
    model.metadata.update({"cv": report, "folds": folds, "source": Path(str(data)).name,
                           "distinct_prompts": len(set(prompts)), "skipped_rows": len(loaded.skipped)})
    return model, report
