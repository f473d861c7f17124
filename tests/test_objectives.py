import math

import pytest

from hia import Goal, RewardModelError, euclidean, goal_completion, max_error
from hia.core.objectives import all_rewards, get_objective
from hia.errors import InputError


def test_euclidean_unweighted_and_weighted():
    goal = Goal.parse("helpfulness=4,verbosity=1")
    assert euclidean({"helpfulness": 3, "verbosity": 3}, goal) == pytest.approx(-math.sqrt(1 + 4))
    weighted = Goal.parse("helpfulness=4:4,verbosity=1")
    assert euclidean({"helpfulness": 3, "verbosity": 3}, weighted) == pytest.approx(-math.sqrt(4 * 1 + 4))
    assert euclidean({"helpfulness": 4, "verbosity": 1}, goal) == 0.0


def test_max_error_is_the_worst_attribute():
    goal = Goal.parse("helpfulness=4,verbosity=1")
    assert max_error({"helpfulness": 3.5, "verbosity": 3.0}, goal) == pytest.approx(-2.0)


def test_goal_completion_counts_attributes_within_tolerance():
    goal = Goal.parse("helpfulness=4,verbosity=1,complexity=2", tolerance=0.5)
    scores = {"helpfulness": 3.5, "verbosity": 1.6, "complexity": 2.0}
    assert goal_completion(scores, goal) == pytest.approx(2 / 3)  # 0.5 is within, 0.6 is not


def test_extra_attributes_in_scores_are_ignored_and_missing_ones_fail():
    goal = Goal.parse("verbosity=1")
    assert euclidean({"verbosity": 2, "helpfulness": 0}, goal) == -1.0
    with pytest.raises(RewardModelError, match="lack the goal's attributes"):
        euclidean({"helpfulness": 0}, goal)
    with pytest.raises(RewardModelError, match="NaN"):
        max_error({"verbosity": float("nan")}, goal)


def test_registry():
    assert set(all_rewards({"verbosity": 1}, Goal.parse("verbosity=1"))) == {"euclidean", "max_error", "goal_completion"}
    with pytest.raises(InputError, match="unknown objective"):
        get_objective("cosine")
