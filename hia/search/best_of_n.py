"""Best-of-N: N samples of the goal-conditioned prompt (distinct seeds); the reference picks."""

from __future__ import annotations

from hia.search import steps
from hia.search.base import Search, SearchContext


class BestOfN(Search):
    name = "best_of_n"

    async def run(self, ctx: SearchContext) -> None:
        if ctx.result.candidates:  # resumed: more samples of the same root
            root = ctx.result.candidates[0]
            samples = [steps.add(ctx, root.prompt, round=0, source="seed") for _ in range(ctx.budget.remaining)]
        else:
            root = steps.add_root(ctx)
            samples = [root] + [steps.add(ctx, root.prompt, round=0, source="seed")
                                for _ in range(ctx.budget.remaining - 1)]
        for i, sample in enumerate(samples, start=1):
            sample.reason = f"sample {i} of {len(samples)}"
        await steps.evaluate(ctx, samples)
