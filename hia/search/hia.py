"""HIA: greedy or beam search where the optimizer proposes many more rewrites than a round may
pay for, and two filters (filters.py) choose which ones get policy calls.

The root, the user's prompt with the goal stated, competes with the rewrites: until it has been
answered it joins every round's pool, passes stage 1 unchecked, and is ranked by the heuristic
with the rest. So a round spends its call on the root when it is predicted to do better than
every rewrite, and at budget 1 HIA is never forced to bet on a rewrite. On a tie the rewrites go
first: one that spells out the target level says more than the goal restated. From round 2 on,
the predictions are corrected by how far this alignment's answers missed theirs (see
filters.residual_offsets), so a policy that wrote longer than asked is expected to again.
"""

from __future__ import annotations

import asyncio

from hia.core.results import Candidate
from hia.search import steps
from hia.search.base import SearchContext
from hia.search.filters import residual_offsets, stage1, stage2
from hia.search.frontier import FrontierSearch
from hia.search.options import SearchOptions


def observed_scores(ctx: SearchContext) -> dict[str, list[dict[str, float]]]:
    """The reference scores of every answer so far, by the prompt that drew it."""
    seen: dict[str, list[dict[str, float]]] = {}
    for c in ctx.result.evaluated:
        if c.evaluation is not None and c.evaluation.scores:
            seen.setdefault(c.prompt, []).append(c.evaluation.scores)
    return seen


class HIAGreedy(FrontierSearch):
    name = "hia_greedy"
    uses_filters = True

    def __init__(self, options: SearchOptions = SearchOptions()) -> None:
        super().__init__(options)
        self.pool = options.hia_candidates

    async def start(self, ctx: SearchContext, root: Candidate) -> list[Candidate]:
        root.reason = "root: the user's prompt with the goal stated, ranked with the rewrites"
        return [root]

    async def choose(self, ctx: SearchContext, root: Candidate, pool: list[Candidate], k: int) -> list[Candidate]:
        contenders = ([root] if root.evaluation is None and root.status != "failed" else []) + pool
        resample = self.resample(ctx, pool[0].round if pool else root.round + 1) if self.options.resample else []

        def filters() -> list[Candidate]:
            survivors = stage1(contenders, ctx.prompt, ctx.embedder, steps.evaluated_prompts(ctx), ctx.filters, root=root)
            offsets = residual_offsets(ctx.result.evaluated, ctx.goal.attributes)
            return stage2(survivors + resample, ctx.goal, ctx.heuristic, ctx.objective, keep=k,  # type: ignore[arg-type]
                          question=ctx.prompt, offsets=offsets, observed=observed_scores(ctx))

        with ctx.usage.stage("filter"):
            return await asyncio.to_thread(filters)  # CPU work off the event loop

    @staticmethod
    def resample(ctx: SearchContext, round: int) -> list[Candidate]:
        """The best prompt so far, to be asked again with a new seed: it competes with the round's
        rewrites, predicted by what its answers scored, so a call goes to more draws of a good aim
        when that is predicted to pay more than a new rewrite. Not checked by stage 1: repeating an
        answered prompt is its point."""
        best = steps.best(ctx)
        if not best:
            return []
        again = steps.add(ctx, best[0].prompt, round, "resample", best[0])
        again.keep()
        again.reason = f"resample of candidate #{best[0].id}, the best answered so far"
        return [again]


class HIABeam(HIAGreedy):
    name = "hia_beam"

    def __init__(self, options: SearchOptions = SearchOptions()) -> None:
        super().__init__(options)
        self.pool, self.width, self.expansions = options.hia_candidates, options.beam_width, options.beam_expansions
