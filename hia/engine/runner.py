"""Batch items, and where one item's search runs (an ItemRunner): this process, or a Ray worker
(hia.engine.ray_runner)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol

from hia.core.budget import Budget
from hia.core.goal import Goal
from hia.core.results import AlignmentResult
from hia.engine.aligner import AsyncAligner
from hia.engine.journal import AnswerJournal
from hia.errors import InputError


@dataclass
class Item:
    id: str
    prompt: str
    goal: Goal | str | Mapping[str, float]
    budget: int | None = None  # None: the batch's budget_per_item
    method: str | None = None


def items_of(items: Iterable[Item | Mapping[str, Any]]) -> list[Item]:
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise InputError(f"items must be a list (or any iterable) of items, got {type(items).__name__}; each item is an "
                         "object with a 'prompt' and a 'goal'")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Item):
            if not isinstance(item, Mapping):
                raise InputError(f"batch item {i} is {type(item).__name__} {item!r:.60}; each item is an object "
                                 "(or hia.Item) with a 'prompt' and a 'goal'")
            missing = [k for k in ("prompt", "goal") if not item.get(k)]
            if missing:
                raise InputError(f"batch item {i} (id {item.get('id', i)!r}) has no {' and no '.join(missing)}; "
                                 "each item needs a 'prompt' (the user's text) and a 'goal' ('verbosity=1')")
            if not isinstance(item["prompt"], str):
                raise InputError(f"batch item {i}: 'prompt' must be text, got {type(item['prompt']).__name__}")
            item = Item(id=str(item.get("id", i)), prompt=item["prompt"], goal=item["goal"],
                        budget=item.get("budget"), method=item.get("method"))
        out.append(item)
    ids = [item.id for item in out]
    if len(set(ids)) != len(ids):
        raise InputError("item ids must be unique: a resumed batch finds finished items by id")
    return out


class ItemRunner(Protocol):
    """Aligns one batch item, wherever its search runs."""

    async def align(self, item: Item, *, budget: int | Budget, allowance: int | None = None,
                    resume: AlignmentResult | None = None) -> AlignmentResult: ...

    def close(self) -> None: ...


class InProcessRunner:
    """Items aligned on this process's event loop, their answers journaled as they arrive."""

    def __init__(self, aligner: AsyncAligner, journal: AnswerJournal | None) -> None:
        self.aligner = aligner
        self.journal = journal

    async def align(self, item: Item, *, budget: int | Budget, allowance: int | None = None,
                    resume: AlignmentResult | None = None) -> AlignmentResult:
        extra = {"policy": self.journal.policy_for(item.id, self.aligner.policy_fn)} if self.journal is not None else {}
        return await self.aligner.align(item.prompt, item.goal, method=item.method, budget=budget, allowance=allowance,
                                        resume=resume, **extra)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()


