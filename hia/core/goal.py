"""Goal: a target value per attribute, with optional weights and a tolerance."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from hia._defaults import DEFAULT_TOLERANCE, MAX_GOAL_ATTRIBUTES
from hia.core.attributes import get_attribute
from hia.errors import GoalError


def _finite(value: object, what: str) -> float:
    if isinstance(value, bool):  # True would count as 1
        raise GoalError(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GoalError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise GoalError(f"{what} must be a finite number, got {value!r}")
    return number


@dataclass(frozen=True)
class Goal:
    """Targets for one to five attributes.

    >>> Goal.parse("helpfulness=4,verbosity=1")
    Goal(targets={'helpfulness': 4.0, 'verbosity': 1.0}, weights={'helpfulness': 1.0, 'verbosity': 1.0}, tolerance=0.5)

    A weight follows the target after a colon: ``helpfulness=4:2,verbosity=1``.
    """

    targets: Mapping[str, float]
    weights: Mapping[str, float] = field(default_factory=dict)
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        if not isinstance(self.targets, Mapping) or not self.targets:
            raise GoalError("a goal needs at least one attribute, e.g. 'helpfulness=4,verbosity=1'")
        if len(self.targets) > MAX_GOAL_ATTRIBUTES:
            raise GoalError(f"a goal takes at most {MAX_GOAL_ATTRIBUTES} attributes, got {len(self.targets)}")
        targets: dict[str, float] = {}
        for name, value in self.targets.items():
            attribute = get_attribute(name)
            target = _finite(value, f"target for {name!r}")
            if not attribute.low <= target <= attribute.high:
                raise GoalError(
                    f"target for {name!r} is {target:g}, outside its range "
                    f"{attribute.low:g}..{attribute.high:g}"
                )
            targets[name] = target
        weights: dict[str, float] = {}
        for name in targets:
            weight = _finite(self.weights.get(name, 1.0), f"weight for {name!r}")
            if weight <= 0:
                raise GoalError(f"weight for {name!r} must be positive, got {weight:g}")
            weights[name] = weight
        unknown = set(self.weights) - set(targets)
        if unknown:
            raise GoalError(f"weights given for attributes without a target: {', '.join(sorted(unknown))}")
        tolerance = _finite(self.tolerance, "tolerance")
        if tolerance < 0:
            raise GoalError(f"tolerance must be zero or more, got {tolerance:g}")
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "tolerance", tolerance)

    @property
    def attributes(self) -> list[str]:
        return list(self.targets)

    @classmethod
    def parse(cls, text: str, *, tolerance: float = DEFAULT_TOLERANCE) -> "Goal":
        """Parse ``name=target[:weight],...``, e.g. ``helpfulness=4,verbosity=1:0.5``, or SteerLM's
        attribute strings, ``name:target,...`` (``helpfulness:4,verbosity:1``), as HelpSteer-trained
        models are steered. An item without ``=`` is read the SteerLM way, so weights keep their syntax."""
        if not isinstance(text, str) or not text.strip():
            raise GoalError("empty goal; write it as 'attribute=target,...', e.g. 'helpfulness=4,verbosity=1'")
        targets: dict[str, float] = {}
        weights: dict[str, float] = {}
        for part in text.split(","):
            part = part.strip()
            name, sep, value = part.partition("=") if "=" in part else part.partition(":")
            name = name.strip()
            if not sep or not name or not value.strip():
                raise GoalError(
                    f"cannot read {part!r} in goal {text!r}; write each attribute as 'name=target', "
                    "'name=target:weight' or, as SteerLM does, 'name:target', separated by commas"
                )
            if name in targets:
                raise GoalError(f"attribute {name!r} appears twice in goal {text!r}")
            target_text, _, weight_text = value.partition(":") if sep == "=" else (value, "", "")
            targets[name] = _finite(target_text.strip(), f"target for {name!r}")
            if weight_text.strip():
                weights[name] = _finite(weight_text.strip(), f"weight for {name!r}")
        return cls(targets=targets, weights=weights, tolerance=tolerance)

    @classmethod
    def coerce(cls, value: "Goal | str | Mapping[str, float]") -> "Goal":
        if isinstance(value, Goal):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Mapping):
            return cls(targets=dict(value))
        raise GoalError(f"a goal is a Goal, a string like 'helpfulness=4' or a dict of targets, got {type(value).__name__}")

    def describe(self) -> str:
        """The goal as plain text, for the optimizer and the goal-conditioned prompt."""
        return "; ".join(get_attribute(name).describe(t) for name, t in self.targets.items())

    def to_dict(self) -> dict:
        return {"targets": dict(self.targets), "weights": dict(self.weights), "tolerance": self.tolerance}

    def __str__(self) -> str:
        return ",".join(
            f"{n}={t:g}" + (f":{self.weights[n]:g}" if self.weights[n] != 1.0 else "") for n, t in self.targets.items()
        )
