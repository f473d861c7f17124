"""The attributes a goal can name: their ranges and what their values mean.

The optimizer is told these descriptions, the zero-shot heuristic embeds the anchors, and the
LLM judge reads the rubric. Register your own with `register_attribute`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import GoalError


@dataclass(frozen=True)
class Attribute:
    name: str
    low: float
    high: float
    description: str
    low_means: str  # what a low score looks like, in words the optimizer and judge understand
    high_means: str
    levels: tuple[str, ...] = ()  # optional rubric: what each whole score from low to high means

    def describe(self, target: float) -> str:
        """A plain sentence saying what `target` on this attribute asks for."""
        frac = (target - self.low) / (self.high - self.low)
        if frac <= 0.25:
            wish = self.low_means
        elif frac >= 0.75:
            wish = self.high_means
        else:
            wish = f"moderate: between '{self.low_means}' and '{self.high_means}'"
        return f"{self.name} {target:g} of {self.high:g} ({wish})"


# HelpSteer's five attributes, all rated 0-4 (Wang et al., 2023).
HELPSTEER_ATTRIBUTES = (
    Attribute(
        "helpfulness", 0, 4,
        "how well the response meets the request overall",
        "unhelpful, ignores the request", "fully answers the request, very useful",
        ("refuses, is off-topic or useless", "barely addresses the request", "partly answers it",
         "answers it well with minor gaps", "answers it fully and usefully"),
    ),
    Attribute(
        "correctness", 0, 4,
        "whether all pertinent facts are included and free of errors",
        "wrong or missing facts", "complete and factually correct",
        ("wrong or made up", "mostly wrong or missing key facts", "some errors or omissions",
         "correct with small omissions", "fully correct and complete"),
    ),
    Attribute(
        "coherence", 0, 4,
        "consistency and clarity of expression",
        "confusing, contradictory", "clear, well organised and consistent",
        ("incoherent", "hard to follow", "somewhat clear", "clear with small lapses", "perfectly clear and consistent"),
    ),
    Attribute(
        "complexity", 0, 4,
        "the intellectual depth needed to write the response",
        "simple words a child understands", "expert vocabulary and deep technical detail",
        ("words a young child knows", "plain everyday language", "some specialised terms, high-school level",
         "university-level vocabulary", "expert, technical depth"),
    ),
    Attribute(
        "verbosity", 0, 4,
        "the amount of detail relative to what was asked",
        "very short and concise, a sentence or two", "long and exhaustive, many paragraphs",
        ("a few words or one short sentence", "two or three sentences", "one solid paragraph",
         "several paragraphs", "long and exhaustive, many paragraphs"),
    ),
)

_REGISTRY: dict[str, Attribute] = {a.name: a for a in HELPSTEER_ATTRIBUTES}


def register_attribute(attribute: Attribute) -> None:
    """Make `attribute` usable in goals. Re-registering a name replaces it."""
    if not attribute.low < attribute.high:
        raise GoalError(f"attribute {attribute.name!r}: low ({attribute.low}) must be below high ({attribute.high})")
    _REGISTRY[attribute.name] = attribute


def get_attribute(name: str) -> Attribute:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise GoalError(f"unknown attribute {name!r}; known attributes: {known} (add one with hia.register_attribute)") from None


def known_attributes() -> list[str]:
    return sorted(_REGISTRY)
