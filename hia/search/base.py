"""What every search works with: the per-alignment context (data only), and the Search interface.

The steps a search takes with it (propose, evaluate, score, learn, rank) are functions in
steps.py, so a search reads top to bottom as a sequence of them.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

from .. import _defaults as D
from ..budget import Budget
from ..errors import HiaError, InputError
from ..goal import Goal
from ..objectives import Objective
from ..optimizer import PromptOptimizer, TemplateOptimizer
from ..policy import Message, PolicyFn
from ..rewards.base import HeuristicRewardModel, ReferenceRewardModel
from ..rewards.embeddings import Embedder
from ..types import AlignmentResult
from ..usage import Usage
from .filters import FilterSettings


@dataclass
class SearchContext:
    """Everything one alignment needs (its inputs), and the result it is filling in."""

    prompt: str
    goal: Goal
    budget: Budget
    objective: Objective
    policy: PolicyFn
    optimizer: PromptOptimizer
    reference: ReferenceRewardModel
    heuristic: HeuristicRewardModel | None
    embedder: Embedder
    result: AlignmentResult
    filters: FilterSettings = field(default_factory=FilterSettings)
    context_messages: Sequence[Message] = ()  # system prompt / earlier turns, sent before each candidate
    base_seed: int = 0
    online_learning: bool = True
    templates: TemplateOptimizer = field(default_factory=TemplateOptimizer)  # stands in when the optimizer fails
    seeds: itertools.count = field(default_factory=itertools.count)  # call i of the alignment uses base_seed + i
    last_exception: HiaError | None = None  # the latest failure that did not stop the search

    @property
    def usage(self) -> Usage:
        return self.result.usage


@dataclass(frozen=True)
class SearchOptions:
    """The searches' sizes, set once per aligner; each must be a whole number of at least 1."""

    hia_candidates: int = D.HIA_CANDIDATES_PER_ROUND  # rewrites HIA asks for per frontier prompt per round
    beam_width: int = D.BEAM_WIDTH
    beam_expansions: int = D.BEAM_EXPANSIONS

    def __post_init__(self) -> None:
        for name in ("hia_candidates", "beam_width", "beam_expansions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a whole number of at least 1, got {value!r}")


class Search(ABC):
    """A search strategy: spends the context's budget and leaves every candidate in the result."""

    name: str
    uses_filters: bool = False  # HIA: the aligner must supply a heuristic and an embedder

    @classmethod
    def from_options(cls, options: SearchOptions) -> "Search":
        return cls()

    @abstractmethod
    async def run(self, ctx: SearchContext) -> None:
        ...
