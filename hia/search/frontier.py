"""Greedy, beam, and HIA around either: one loop over a frontier of prompts.

Each round every frontier prompt is rewritten by the optimizer; the round may pay for
k = min(budget left, width * expansions) policy calls; the frontier becomes the best `width`
prompts evaluated so far (so greedy, width 1, always rewrites the best prompt yet).

- greedy:     width 1, one rewrite per round, evaluated.
- beam:       width W, E rewrites per frontier prompt, all evaluated.
- hia_greedy / hia_beam: the optimizer proposes `pool` rewrites per frontier prompt, many more
  than the round may pay for, and HIA's two filters choose which k get policy calls.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from .. import _defaults as D
from ..errors import OptimizerError
from ..filters import normal_text, stage1, stage2
from ..types import Candidate
from .base import Search, SearchContext


def _interleave(groups: list[list[Candidate]]) -> list[Candidate]:
    """Round-robin over the parents' rewrites, so the first k cover every parent."""
    return [c for row in itertools.zip_longest(*groups) for c in row if c is not None]


@dataclass
class FrontierSearch(Search):
    name: str
    width: int
    expansions: int
    pool: int  # rewrites asked of the optimizer per frontier prompt per round
    filtered: bool  # HIA: run the two filters over the pool

    async def run(self, ctx: SearchContext) -> None:
        root = ctx.seed_candidate()
        root.status, root.reason = "kept", "root: the user's prompt with the goal stated"
        frontier = [root]
        empty_rounds = 0
        for round in itertools.count(1):
            k = min(ctx.budget.remaining, len(frontier) * self.expansions)
            if k <= 0 or empty_rounds >= D.MAX_EMPTY_ROUNDS:
                break
            groups = await asyncio.gather(*(ctx.propose(parent, self.pool, round) for parent in frontier))
            pool = _interleave(list(groups))
            chosen = await self._choose(ctx, pool, k)
            if not chosen:
                chosen = await self._fallback(ctx, frontier[0], round)
            # A round whose calls all failed spent nothing (units are released); after a few
            # such rounds the endpoint is taken to be down and the search stops.
            answered = await ctx.evaluate(chosen) if chosen else []
            empty_rounds = 0 if answered else empty_rounds + 1
            frontier = ctx.best()[: self.width] or frontier

    async def _choose(self, ctx: SearchContext, pool: list[Candidate], k: int) -> list[Candidate]:
        if self.filtered:
            def filters() -> list[Candidate]:
                survivors = stage1(pool, ctx.prompt, ctx.embedder, ctx.evaluated_prompts(), ctx.filters)
                return stage2(survivors, ctx.goal, ctx.heuristic, ctx.objective, keep=k)  # type: ignore[arg-type]

            with ctx.usage.stage("filter"):
                return await asyncio.to_thread(filters)  # CPU work off the event loop
        # Plain searches evaluate the optimizer's rewrites in order, skipping only unusable ones.
        seen = {normal_text(p) for p in ctx.evaluated_prompts()}
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
                c.status = "kept"
                chosen.append(c)
                seen.add(key)
        return chosen

    async def _fallback(self, ctx: SearchContext, parent: Candidate, round: int) -> list[Candidate]:
        """Every rewrite was dropped: try the goal stated plainly, once, so the budget is not wasted."""
        ctx.record_error(OptimizerError(f"no usable rewrite in round {round}; trying a template rewrite"), "filter")
        [prompt] = await ctx.templates.propose(ctx.prompt, ctx.goal, 1, feedback=ctx.feedback(parent))
        fallback = ctx.add(prompt, round, "template", parent)
        if normal_text(fallback.prompt) in {normal_text(p) for p in ctx.evaluated_prompts()}:
            fallback.drop("search", "repeats a prompt already evaluated")
            return []
        fallback.status = "kept"
        return [fallback]

