import math

import pytest

from hia import Goal, GoalError
from hia.core.attributes import Attribute, register_attribute


def test_parse_targets_and_weights():
    goal = Goal.parse("helpfulness=4, verbosity=1:2")
    assert goal.targets == {"helpfulness": 4.0, "verbosity": 1.0}
    assert goal.weights == {"helpfulness": 1.0, "verbosity": 2.0}
    assert goal.tolerance == 0.5
    assert str(goal) == "helpfulness=4,verbosity=1:2"
    assert Goal.parse(str(goal)) == goal


def test_coerce_accepts_goal_string_and_mapping():
    assert Goal.coerce({"verbosity": 3}).targets == {"verbosity": 3.0}
    assert Goal.coerce("verbosity=3") == Goal({"verbosity": 3})


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty goal"),
        ("helpfulness", "cannot read 'helpfulness'"),
        ("helpfulness=", "cannot read"),
        ("=3", "cannot read"),
        ("niceness=3", "unknown attribute 'niceness'"),
        ("helpfulness=5", "outside its range 0..4"),
        ("helpfulness=-1", "outside its range"),
        ("helpfulness=nan", "finite"),
        ("helpfulness=inf", "finite"),
        ("helpfulness=high", "must be a number"),
        ("helpfulness=4,helpfulness=3", "appears twice"),
        ("helpfulness=4:0", "weight for 'helpfulness' must be positive"),
        ("helpfulness=4:-2", "must be positive"),
    ],
)
def test_parse_errors_name_the_problem(text, fragment):
    with pytest.raises(GoalError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        Goal.parse(text)


def test_goal_error_is_a_value_error():
    with pytest.raises(ValueError):
        Goal.parse("x=1")


def test_attribute_count_limits():
    with pytest.raises(GoalError, match="at least one"):
        Goal({})
    register_attribute(Attribute("community", 0, 4, "community preference", "disliked", "loved"))
    five = "helpfulness=1,correctness=1,coherence=1,complexity=1,verbosity=1"
    assert len(Goal.parse(five).targets) == 5
    with pytest.raises(GoalError, match="at most 5"):
        Goal.parse(five + ",community=2")


def test_tolerance_and_weight_validation():
    with pytest.raises(GoalError, match="tolerance"):
        Goal({"verbosity": 1}, tolerance=-0.1)
    with pytest.raises(GoalError, match="tolerance"):
        Goal({"verbosity": 1}, tolerance=math.nan)
    with pytest.raises(GoalError, match="without a target"):
        Goal({"verbosity": 1}, weights={"helpfulness": 2})


def test_describe_reads_like_an_instruction():
    text = Goal.parse("verbosity=0,complexity=4,helpfulness=2").describe()
    assert "very short" in text and "expert" in text and "moderate" in text


def test_a_steerlm_attribute_string_is_the_same_goal_as_the_equals_form():
    steerlm = Goal.parse("helpfulness:4,correctness:4,coherence:4,complexity:1,verbosity:1")
    assert steerlm == Goal.parse("helpfulness=4,correctness=4,coherence=4,complexity=1,verbosity=1")
    assert Goal.parse("verbosity:1, complexity=2:3") == Goal({"verbosity": 1, "complexity": 2}, {"complexity": 3})
    for bad in ("verbosity:", ":1", "verbosity:1:2", "verbosity"):
        with pytest.raises(GoalError):
            Goal.parse(bad)
