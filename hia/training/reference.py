"""Training the reward models from rated data: what `hia train-reference` and friends run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hia import _defaults as D
from hia.data import load_helpsteer
from hia.data.helpsteer import ATTRIBUTES
from hia.rewards.attribute_model import AttributeModel, grouped_cv


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
