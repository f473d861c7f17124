"""The attributes a goal can name: their ranges, and a rubric saying what each level looks like.

The rubric is the shared definition of a level. The optimizers turn the rubric of a target level
into instructions for the policy, the zero-shot heuristic reads which level a prompt asks for,
the LLM judge grades against it, and the exact reference measures the two attributes a text
measure defines (verbosity by word count, complexity by reading grade) with the same bands the
rubric states. Register your own attribute, with or without a rubric, with `register_attribute`.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Sequence

from hia import _defaults as D
from hia.errors import GoalError


@dataclass(frozen=True)
class Attribute:
    """An attribute on the scale low..high.

    levels: the rubric, one short concrete description per whole score from low to high, written
    as what the answer is ("two or three sentences (about 20 to 60 words)"). Optional for your own
    attributes; every built-in one has it.
    aspect: the word an instruction uses for it ("Length" reads better to a model than "verbosity").
    """

    name: str
    low: float
    high: float
    description: str
    low_means: str  # what a low score looks like, in words the optimizer and judge understand
    high_means: str
    levels: tuple[str, ...] = ()
    aspect: str = ""

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise GoalError(f"attribute {self.name!r}: low ({self.low}) must be below high ({self.high})")
        if self.levels:
            expected = int(math.floor(self.high) - math.ceil(self.low)) + 1
            if not float(self.low).is_integer() or not float(self.high).is_integer() or len(self.levels) != expected:
                raise GoalError(
                    f"attribute {self.name!r}: a rubric needs one description per whole score from {self.low:g} to "
                    f"{self.high:g} ({expected}), got {len(self.levels)}; or leave levels empty"
                )
            if not all(isinstance(text, str) and text.strip() for text in self.levels):
                raise GoalError(f"attribute {self.name!r}: every rubric level needs a non-empty description")

    @property
    def label(self) -> str:
        return self.aspect or self.name.capitalize()

    def level(self, target: float) -> int:
        """The whole score nearest to `target`, within the range (halves round up)."""
        return int(min(self.high, max(self.low, math.floor(target + 0.5))))

    def rubric(self, target: float) -> str | None:
        """What the level nearest to `target` looks like, or None without a rubric."""
        if not self.levels:
            return None
        return self.levels[self.level(target) - int(self.low)]

    def describe(self, target: float) -> str:
        """A plain sentence saying what `target` asks for: the goal stated, not the rubric spelled out."""
        frac = (target - self.low) / (self.high - self.low)
        if frac <= 0.25:
            wish = self.low_means
        elif frac >= 0.75:
            wish = self.high_means
        else:
            wish = f"moderate: between '{self.low_means}' and '{self.high_means}'"
        return f"{self.name} {target:g} of {self.high:g} ({wish})"


# HelpSteer's five attributes, all rated 0-4 (Wang et al., 2023). The verbosity and complexity
# bands are the exact reference's definitions (hia/rewards/exact.py): word counts and reading grades.
HELPSTEER_ATTRIBUTES = (
    Attribute(
        "helpfulness", 0, 4,
        "how well the response meets the request overall",
        "unhelpful, ignores the request", "fully answers the request, very useful",
        ("off-topic or a refusal, of no use", "barely addresses the request", "partly answers the request",
         "answers the request well, with minor gaps", "answers every part of the request fully and usefully"),
        "Helpfulness",
    ),
    Attribute(
        "correctness", 0, 4,
        "whether all pertinent facts are included and free of errors",
        "wrong or missing facts", "complete and factually correct",
        ("wrong or made up", "mostly wrong or missing key facts", "some errors or omissions",
         "correct, with small omissions", "fully correct, with every pertinent fact"),
        "Accuracy",
    ),
    Attribute(
        "coherence", 0, 4,
        "consistency and clarity of expression",
        "confusing, contradictory", "clear, well organised and consistent",
        ("incoherent and contradictory", "hard to follow", "somewhat clear, loosely organised",
         "clear, with small lapses", "perfectly clear, well organised and consistent"),
        "Clarity",
    ),
    Attribute(
        "complexity", 0, 4,
        "the intellectual depth needed to write the response",
        "simple words a child understands", "expert vocabulary and deep technical detail",
        ("only words a young child knows, in very short sentences (reading grade 1 to 4)",
         "plain everyday words and no jargon (reading grade 5 to 7)",
         "some specialised terms, at a high-school level (reading grade 8 to 10)",
         "university-level vocabulary and reasoning (reading grade 11 to 13)",
         "expert technical language and in-depth analysis (reading grade 14 and above)"),
        "Wording",
    ),
    Attribute(
        "verbosity", 0, 4,
        "the amount of detail relative to what was asked",
        "very short and concise, a sentence or two", "long and exhaustive, many paragraphs",
        ("a few words or one short sentence (under 20 words)",
         "two or three sentences (about 20 to 60 words)",
         "one solid paragraph (about 60 to 150 words)",
         "several paragraphs (about 150 to 300 words)",
         "a long, exhaustive answer of many paragraphs (over 300 words)"),
        "Length",
    ),
)

_REGISTRY: dict[str, Attribute] = {a.name: a for a in HELPSTEER_ATTRIBUTES}


def register_attribute(attribute: Attribute) -> None:
    """Make `attribute` usable in goals. Re-registering a name replaces it."""
    if not isinstance(attribute, Attribute):
        raise GoalError(f"register_attribute takes an hia.Attribute, got {type(attribute).__name__}")
    _REGISTRY[attribute.name] = attribute


def get_attribute(name: str) -> Attribute:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise GoalError(f"unknown attribute {name!r}; known attributes: {known} (add one with hia.register_attribute)") from None


def known_attributes() -> list[str]:
    return sorted(_REGISTRY)


@functools.lru_cache(maxsize=D.TEXT_CACHE_SIZE)  # the rubric texts are normalised for every candidate
def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def stated_targets(prompt: str, attributes: Sequence[str]) -> dict[str, float]:
    """Targets a prompt states the way the goal-conditioned prompt does ("verbosity 1 of 4")."""
    found = {}
    for name in attributes:
        match = re.search(rf"\b{re.escape(name)} (\d+(?:\.\d+)?) of \d+(?:\.\d+)?\b", prompt, re.IGNORECASE)
        if match:
            found[name] = float(match.group(1))
    return found


def requested_levels(prompt: str, attributes: Sequence[str]) -> dict[str, int]:
    """The rubric level a prompt asks for, per attribute, where it quotes exactly one level's rubric.

    Prompts written from the rubric (every template rewrite, and LLM rewrites that copy it) say
    which level they want in the rubric's own words; anything else is absent from the result."""
    text = _normal(prompt)
    found = {}
    for name in attributes:
        attribute = get_attribute(name)
        quoted = [i for i, level in enumerate(attribute.levels) if _normal(level) in text]
        if len(quoted) == 1:
            found[name] = int(attribute.low) + quoted[0]
    return found
