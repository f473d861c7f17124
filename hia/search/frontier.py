"""The loop greedy, beam and HIA share: a frontier of prompts, rewritten and evaluated round by round.

Each round every frontier prompt is rewritten by the optimizer; the round may pay for
k = min(budget left, width * expansions) policy calls; the frontier becomes the best `width`
prompts evaluated so far. Subclasses decide where the search starts (`start`) and which of the
round's candidates get the calls (`choose`).
"""

from __future__ import annotations

import asyncio
import itertools

from hia import _defaults as D
from hia.core.results import Candidate
from hia.errors import OptimizerError
from hia.search import steps
from hia.search.base import Search, SearchContext
from hia.search.filters import normal_text


def interleave(groups: list[list[Candidate]]) -> list[Candidate]:
    """Round-robin over the parents' rewrites, so the first k cover every parent."""
    return [c for row in itertools.zip_longest(*groups) for c in row if c is not None]


class FrontierSearch(Search):
    width: int = 1
    expansions: int = 1
    pool: int = 1  # rewrites asked of the optimizer per frontier prompt per round

    async def run(self, ctx: SearchContext) -> None:
        if ctx.result.candidates:  # resumed: go on from the best answers so far
            root = ctx.result.candidates[0]
            frontier = steps.best(ctx)[: self.width] or [root]
            first_round = max(c.round for c in ctx.result.candidates) + 1
        else:
            root = steps.add_root(ctx)
            frontier = await self.start(ctx, root)
            first_round = 1
        empty_rounds = 0
        for round in itertools.count(first_round):
            k = min(ctx.budget.remaining, len(frontier) * self.expansions)
            if k <= 0 or empty_rounds >= D.MAX_EMPTY_ROUNDS:
                break
            groups = await asyncio.gather(*(steps.propose(ctx, parent, self.pool, round) for parent in frontier))
            chosen = await self.choose(ctx, root, interleave(list(groups)), k)
            if not chosen:
                chosen = await self._fallback(ctx, frontier[0], round)
            # A round whose calls all failed spent nothing (units are released); after a few
            # such rounds the endpoint is taken to be down and the search stops.
            answered = await steps.evaluate(ctx, chosen) if chosen else []
            empty_rounds = 0 if answered else empty_rounds + 1
            frontier = steps.best(ctx)[: self.width] or frontier

    async def start(self, ctx: SearchContext, root: Candidate) -> list[Candidate]:
        """Greedy and beam first answer the root itself, the prompt best-of-N samples, and rewrite from there."""
        root.reason = "root: the user's prompt with the goal stated, answered first"
        await steps.evaluate(ctx, [root])
        return [root]

    async def choose(self, ctx: SearchContext, root: Candidate, pool: list[Candidate], k: int) -> list[Candidate]:
        """Plain searches evaluate the optimizer's rewrites in order, skipping only unusable ones."""
        seen = {normal_text(p) for p in steps.evaluated_prompts(ctx)}
        chosen = []
        for c in pool:
            key = normal_text(c.prompt)
            if not key:
                c.drop("search", "empty")
            elif key in seen:
                c.drop("search", "repeats a prompt already chosen")
            elif len(chosen) >= k:
                c.drop("search", f"the round pays for {k} rewrites")
            else:
                c.keep()
                chosen.append(c)
                seen.add(key)
        return chosen

    async def _fallback(self, ctx: SearchContext, parent: Candidate, round: int) -> list[Candidate]:
        """Every candidate was dropped: try a template rewrite, once, so the budget is not wasted."""
        steps.record_error(ctx, OptimizerError(f"no usable rewrite in round {round}; trying a template rewrite"), "filter")
        [prompt] = await ctx.templates.propose(parent.prompt, ctx.goal, 1, original=ctx.prompt,
                                               feedback=steps.feedback(parent))
        fallback = steps.add(ctx, prompt, round, "template", parent)
        if normal_text(fallback.prompt) in {normal_text(p) for p in steps.evaluated_prompts(ctx)}:
            fallback.drop("search", "repeats a prompt already evaluated")
            return []
        fallback.keep()
        return [fallback]
