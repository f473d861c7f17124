"""Small statistics shared by the training and calibration reports."""

from __future__ import annotations

import numpy as np


def spearman(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Spearman's rank correlation, rounded to 3 places; NaN where it is undefined (fewer than 3
    values, or a constant side)."""
    from scipy.stats import spearmanr

    predicted, actual = np.asarray(predicted, float), np.asarray(actual, float)
    if len(actual) < 3 or np.ptp(actual) == 0 or np.ptp(predicted) == 0:
        return float("nan")
    return round(float(spearmanr(predicted, actual).statistic), 3)
