"""One budget for a whole dataset, spent where it pays (`align_many(total_budget=N)`).

An even split gives every item the same calls, whether its first answer already met the goal or
can never meet it. This allocator instead:

1. gives every item the one call it needs for a first answer (items beyond the total get none,
   and are recorded as BudgetExhausted);
2. then, round by round, gives one more call to each item whose best answer is still off its goal
   (some attribute outside the goal's tolerance) and still improving, furthest from its goal
   first, until the total is spent. Each extra call continues the item's own search
   (`align(resume=...)`), so HIA's rewrites learn from the answers already paid for.

An item stops getting calls when its best answer meets the goal, or when `patience` extra calls
in a row brought no better answer (it is judged unlikely to improve). Every record says how many
calls its item got and why it got no more.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from hia import _defaults as D
from hia.core.budget import Budget
from hia.core.results import AlignmentResult
from hia.engine.runner import ItemRunner
from hia.errors import BudgetExhausted, HiaError


@dataclass
class ItemState:
    item: Any  # hia.engine.batch.Item
    result: AlignmentResult | None = None
    calls: int = 0
    stalls: int = 0  # extra calls in a row without a better answer
    done: str | None = None  # why it gets no more calls
    error: Exception | None = None

    @property
    def reward(self) -> float:
        return self.result.reward if self.result is not None and self.result.reward is not None else float("-inf")

    @property
    def goal_met(self) -> bool:
        chosen = self.result.chosen if self.result is not None else None
        return bool(chosen and chosen.evaluation and chosen.evaluation.rewards.get("goal_completion", 0.0) >= 1.0)


async def allocate(runner: "ItemRunner", items: list[Any], total: int,
                   finish: Callable[[ItemState], Awaitable[None] | None], *, concurrency: int = D.BATCH_CONCURRENCY,
                   patience: int = D.ALLOCATION_PATIENCE) -> Budget:
    """Spend `total` policy calls over `items` as the module describes, each call aligned by
    `runner` (in this process or on Ray workers); `finish(state)` is called once per item, as
    soon as its outcome is final. Returns the shared Budget (to read what was spent)."""
    shared = Budget(total)
    gate = asyncio.Semaphore(concurrency)
    states = [ItemState(item) for item in items]

    async def call(state: ItemState) -> None:
        async with gate:
            before = state.reward
            try:
                state.result = await runner.align(state.item, budget=shared, allowance=1, resume=state.result)
            except HiaError as exc:
                if state.result is None and exc.result is not None and exc.result.evaluated:
                    state.result = exc.result  # failed, but with answers paid for: keep them
                if state.result is None:
                    state.error = exc
                    state.done = ("the total budget ran out before its first call" if isinstance(exc, BudgetExhausted)
                                  else f"failed: {type(exc).__name__}")
                    return
                if isinstance(exc, BudgetExhausted):
                    state.done = "the total budget ran out"
                    return
            state.calls = state.result.usage.policy_calls
            state.stalls = 0 if state.reward > before + 1e-9 else state.stalls + 1

    async def settle(state: ItemState) -> None:
        if state.done is None:
            if state.goal_met:
                state.done = f"goal met after {state.calls} call{'s' * (state.calls != 1)}"
            elif state.stalls >= patience:
                state.done = f"no better answer in its last {patience} extra calls: judged unlikely to improve"
        if state.done is not None:
            outcome = finish(state)
            if outcome is not None:
                await outcome

    await asyncio.gather(*(call(s) for s in states))  # 1. a first answer each
    for state in states:
        await settle(state)
    while shared.remaining > 0:  # 2. the rest, round by round, where it pays
        open_items = sorted((s for s in states if s.done is None), key=lambda s: s.reward)
        if not open_items:
            break
        this_round = open_items[: shared.remaining]
        await asyncio.gather(*(call(s) for s in this_round))
        for state in this_round:
            await settle(state)
    for state in states:
        if state.done is None:
            state.done = "the total budget ran out"
            await settle(state)
    return shared
