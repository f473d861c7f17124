"""Reward functions R(G, r): how close a score vector r is to a goal G. Higher is better.

Over the goal's attributes S:
- euclidean:       -sqrt(sum_i w_i * (r_i - G_i)^2)   (w_i = 1 unless the goal gives weights)
- max_error:       -max_i |r_i - G_i|
- goal_completion: the fraction of attributes with |r_i - G_i| <= tolerance
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

from hia.core.goal import Goal
from hia.errors import InputError, RewardModelError

Objective = Callable[[Mapping[str, float], Goal], float]


def _errors(scores: Mapping[str, float], goal: Goal) -> dict[str, float]:
    missing = [name for name in goal.targets if name not in scores]
    if missing:
        raise RewardModelError(f"scores lack the goal's attributes {missing}; got {sorted(scores)}")
    errors = {}
    for name, target in goal.targets.items():
        value = float(scores[name])
        if math.isnan(value):
            raise RewardModelError(f"score for {name!r} is NaN")
        errors[name] = value - target
    return errors


def euclidean(scores: Mapping[str, float], goal: Goal) -> float:
    errors = _errors(scores, goal)
    return -math.sqrt(sum(goal.weights[n] * e * e for n, e in errors.items()))


def max_error(scores: Mapping[str, float], goal: Goal) -> float:
    return -max(abs(e) for e in _errors(scores, goal).values())


def goal_completion(scores: Mapping[str, float], goal: Goal) -> float:
    errors = _errors(scores, goal)
    return sum(abs(e) <= goal.tolerance for e in errors.values()) / len(errors)


OBJECTIVES: dict[str, Objective] = {
    "euclidean": euclidean,
    "max_error": max_error,
    "goal_completion": goal_completion,
}


def get_objective(name: str) -> Objective:
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise InputError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}") from None


def all_rewards(scores: Mapping[str, float], goal: Goal) -> dict[str, float]:
    """Every reward function's value, so results keep all three whichever one chose."""
    return {name: fn(scores, goal) for name, fn in OBJECTIVES.items()}
