"""The steps a search takes, in the order it usually takes them: add candidates (the root, the
optimizer's rewrites), evaluate them (policy calls under the budget), score the answers with the
reference, learn from them, and rank what has been answered."""

from __future__ import annotations

import asyncio
from typing import Sequence

import numpy as np

from hia.core.objectives import all_rewards
from hia.core.results import Candidate, ErrorRecord, Evaluation, Source
from hia.errors import EndpointError, HiaError, OptimizerError, RewardModelError
from hia.models.optimizer import Feedback, goal_conditioned_prompt
from hia.rewards.base import check_scores
from hia.search.base import SearchContext


def add(ctx: SearchContext, prompt: str, round: int, source: Source, parent: Candidate | None = None) -> Candidate:
    candidate = Candidate(id=len(ctx.result.candidates), prompt=prompt, round=round, source=source,
                          parent_id=parent.id if parent else None)
    ctx.result.candidates.append(candidate)
    return candidate


def add_root(ctx: SearchContext) -> Candidate:
    """The user's prompt with the goal stated plainly: the root every search starts from."""
    return add(ctx, goal_conditioned_prompt(ctx.prompt, ctx.goal), round=0, source="seed")


def record_error(ctx: SearchContext, exc: HiaError, stage: str, candidate: Candidate | None = None) -> None:
    ctx.last_exception = exc
    ctx.result.errors.append(ErrorRecord(type=type(exc).__name__, message=str(exc), stage=stage,
                                         candidate_id=candidate.id if candidate else None))


def feedback(parent: Candidate) -> Feedback | None:
    """How the parent's answer scored, for the optimizer to correct."""
    if parent.evaluation is None or not parent.evaluation.scores:
        return None
    return Feedback(parent.evaluation.scores, prompt=parent.prompt)


async def propose(ctx: SearchContext, parent: Candidate, n: int, round: int) -> list[Candidate]:
    """Ask the optimizer for `n` rewrites of `parent`; fall back to templates if it gives none."""
    with ctx.usage.stage("optimize"):
        try:
            prompts = await ctx.optimizer.propose(parent.prompt, ctx.goal, n, original=ctx.prompt,
                                                  feedback=feedback(parent), usage=ctx.usage)
            source: Source = "optimizer"
            if not any(p.strip() for p in prompts):
                raise OptimizerError(f"the optimizer returned nothing usable for round {round}")
        except (OptimizerError, EndpointError) as exc:
            # The alignment goes on with rewrites written from the rubrics; the failure stays on record.
            record_error(ctx, exc, "optimize")
            prompts = await ctx.templates.propose(parent.prompt, ctx.goal, n, original=ctx.prompt,
                                                  feedback=feedback(parent))
            source = "template"
    return [add(ctx, p, round, source, parent) for p in prompts]


async def evaluate(ctx: SearchContext, candidates: Sequence[Candidate]) -> list[Candidate]:
    """One policy call per candidate (concurrently, each with its own reserved budget unit and
    seed), then one batch of reference scoring, then learning. Returns those that got an answer."""
    async def call(candidate: Candidate) -> Candidate | None:
        reservation = ctx.budget.try_reserve()
        if reservation is None:
            candidate.drop("search", "budget exhausted before its policy call")
            return None
        with reservation:
            seed = ctx.base_seed + next(ctx.seeds)
            messages = [*ctx.context_messages, {"role": "user", "content": candidate.prompt}]
            try:
                reply = await ctx.policy(messages, seed, ctx.usage)
            except HiaError as exc:
                candidate.fail(str(exc))
                record_error(ctx, exc, "policy", candidate)
                return None
            reservation.commit()
        candidate.answer(Evaluation(response=reply.text, scores={}, rewards={}, seed=seed,
                                    prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
                                    finish_reason=reply.finish_reason))
        return candidate

    with ctx.usage.stage("policy"):
        answered = [c for c in await asyncio.gather(*(call(c) for c in candidates)) if c is not None]
    if answered and await score(ctx, answered):
        learn(ctx, answered)
    return answered


async def score(ctx: SearchContext, answered: Sequence[Candidate]) -> bool:
    """Reference scores and every reward for the answers; False (and the failure on record) if the
    reference failed, in which case the answers, which were paid for, stay unscored."""
    attributes = ctx.goal.attributes
    with ctx.usage.stage("reward"):
        try:
            raw = await ctx.reference.ascore([ctx.prompt] * len(answered),
                                             [c.evaluation.response for c in answered],  # type: ignore[union-attr]
                                             attributes, usage=ctx.usage)
            rows = check_scores(raw, len(answered), attributes, ctx.reference)
        except (RewardModelError, EndpointError) as exc:
            record_error(ctx, exc, "reward")
            return False
        for c, row in zip(answered, rows):
            evaluation = c.evaluation
            assert evaluation is not None
            evaluation.scores = {a: round(float(v), 4) for a, v in zip(attributes, row)}
            evaluation.rewards = {k: round(v, 4) for k, v in all_rewards(evaluation.scores, ctx.goal).items()}
    return True


def learn(ctx: SearchContext, answered: Sequence[Candidate]) -> None:
    """Real answers are evidence for the heuristic (a no-op for untrained heuristics)."""
    if ctx.online_learning and ctx.heuristic is not None:
        attributes = ctx.goal.attributes
        scores = np.array([[c.evaluation.scores[a] for a in attributes] for c in answered])  # type: ignore[union-attr]
        ctx.heuristic.update_for(ctx.prompt, [c.prompt for c in answered], scores, attributes)


def evaluated_prompts(ctx: SearchContext) -> list[str]:
    return [c.prompt for c in ctx.result.candidates if c.evaluation is not None]


def best(ctx: SearchContext, among: Sequence[Candidate] | None = None) -> list[Candidate]:
    """Scored candidates, best first by the objective (ties: earliest first)."""
    pool = ctx.result.candidates if among is None else among
    scored = [c for c in pool if c.evaluation is not None and c.evaluation.rewards]
    return sorted(scored, key=lambda c: -ctx.objective(c.evaluation.scores, ctx.goal))  # type: ignore[union-attr]
