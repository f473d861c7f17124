"""What every search works with: the per-alignment context (data only), and the Search interface.

The steps a search takes with it (propose, evaluate, score, learn, rank) are functions in
steps.py, so a search reads top to bottom as a sequence of them.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

from hia.core.budget import Budget
from hia.core.goal import Goal
from hia.core.objectives import Objective
from hia.core.results import AlignmentResult
from hia.core.usage import Usage
from hia.errors import HiaError
from hia.models.embeddings import Embedder
from hia.models.optimizer import PromptOptimizer, TemplateOptimizer
from hia.models.policy import Message, PolicyFn
from hia.rewards.base import HeuristicRewardModel, ReferenceRewardModel
from hia.search.filters import FilterSettings
from hia.search.options import SearchOptions


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


class Search(ABC):
    """A search strategy: spends the context's budget and leaves every candidate in the result."""

    name: str
    uses_filters: bool = False  # HIA: the aligner must supply a heuristic and an embedder

    def __init__(self, options: SearchOptions = SearchOptions()) -> None:
        self.options = options

    @abstractmethod
    async def run(self, ctx: SearchContext) -> None:
        ...
