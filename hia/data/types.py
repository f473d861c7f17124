"""Rows the loaders produce."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RatedResponse:
    """A response with human attribute ratings (HelpSteer: five attributes, 0-4)."""

    prompt: str
    response: str
    scores: dict[str, float] = field(hash=False)


@dataclass(frozen=True)
class PreferencePair:
    """Two answers to one prompt, one preferred by people (a community, or annotators)."""

    prompt: str
    chosen: str
    rejected: str
    community: str | None = None
    chosen_score: float | None = None  # votes, where the source has them
    rejected_score: float | None = None
    source_id: str | None = None


@dataclass(frozen=True)
class CommunityPrompt:
    """A question posted to a community, with one of its answers and that answer's score."""

    prompt: str
    community: str
    answer: str | None = None
    score: float | None = None
    source_id: str | None = None
