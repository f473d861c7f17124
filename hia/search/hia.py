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

from .. import _defaults as D
from ..types import Candidate
from . import steps
from .base import SearchContext, SearchOptions
from .filters import residual_offsets, stage1, stage2
from .frontier import FrontierSearch


class HIAGreedy(FrontierSearch):
    name = "hia_greedy"
    uses_filters = True

    def __init__(self, candidates: int = D.HIA_CANDIDATES_PER_ROUND) -> None:
        self.pool = candidates

    @classmethod
    def from_options(cls, options: SearchOptions) -> "HIAGreedy":
        return cls(options.hia_candidates)

    async def start(self, ctx: SearchContext, root: Candidate) -> list[Candidate]:
        root.reason = "root: the user's prompt with the goal stated, ranked with the rewrites"
        return [root]

    async def choose(self, ctx: SearchContext, root: Candidate, pool: list[Candidate], k: int) -> list[Candidate]:
        contenders = ([root] if root.evaluation is None and root.status != "failed" else []) + pool

        def filters() -> list[Candidate]:
            survivors = stage1(contenders, ctx.prompt, ctx.embedder, steps.evaluated_prompts(ctx), ctx.filters, root=root)
            ranked_first = [c for c in survivors if c is not root] + [c for c in survivors if c is root]
            offsets = residual_offsets(ctx.result.evaluated, ctx.goal.attributes)
            return stage2(ranked_first, ctx.goal, ctx.heuristic, ctx.objective, keep=k, offsets=offsets)  # type: ignore[arg-type]

        with ctx.usage.stage("filter"):
            return await asyncio.to_thread(filters)  # CPU work off the event loop


class HIABeam(HIAGreedy):
    name = "hia_beam"

    def __init__(self, candidates: int = D.HIA_CANDIDATES_PER_ROUND, width: int = D.BEAM_WIDTH,
                 expansions: int = D.BEAM_EXPANSIONS) -> None:
        self.pool, self.width, self.expansions = candidates, width, expansions

    @classmethod
    def from_options(cls, options: SearchOptions) -> "HIABeam":
        return cls(options.hia_candidates, options.beam_width, options.beam_expansions)
