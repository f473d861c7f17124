"""What every search shares: the per-alignment context, proposing, and evaluating under the budget."""

from __future__ import annotations

import asyncio
import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..budget import Budget
from ..errors import EndpointError, HiaError, OptimizerError, RewardModelError
from ..goal import Goal
from ..objectives import Objective, all_rewards
from ..optimizer import Feedback, PromptOptimizer, TemplateOptimizer, goal_conditioned_prompt
from ..policy import Message, PolicyFn
from ..rewards.base import HeuristicRewardModel, ReferenceRewardModel, check_scores
from ..rewards.embeddings import Embedder
from .filters import FilterSettings
from ..types import AlignmentResult, Candidate, ErrorRecord, Evaluation
from ..usage import Usage


@dataclass
class SearchContext:
    """Everything one alignment needs; searches read it and append to `result`."""

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
    templates: TemplateOptimizer = field(default_factory=TemplateOptimizer)  # fallback rewrites, rotating
    _seeds: itertools.count = field(default_factory=itertools.count)
    last_exception: HiaError | None = None

    @property
    def usage(self) -> Usage:
        return self.result.usage

    def next_seed(self) -> int:
        return self.base_seed + next(self._seeds)

    def add(self, prompt: str, round: int, source: str, parent: Candidate | None = None) -> Candidate:
        candidate = Candidate(id=len(self.result.candidates), prompt=prompt, round=round, source=source,  # type: ignore[arg-type]
                              parent_id=parent.id if parent else None)
        self.result.candidates.append(candidate)
        return candidate

    def record_error(self, exc: HiaError, stage: str, candidate: Candidate | None = None) -> None:
        self.last_exception = exc
        self.result.errors.append(ErrorRecord(type=type(exc).__name__, message=str(exc), stage=stage,
                                              candidate_id=candidate.id if candidate else None))

    def evaluated_prompts(self) -> list[str]:
        return [c.prompt for c in self.result.candidates if c.evaluation is not None]

    def best(self, among: Sequence[Candidate] | None = None) -> list[Candidate]:
        """Evaluated candidates with rewards, best first by the objective (ties: earliest first)."""
        pool = self.result.candidates if among is None else among
        scored = [c for c in pool if c.evaluation is not None and c.evaluation.rewards]
        return sorted(scored, key=lambda c: -self.objective(c.evaluation.scores, self.goal))  # type: ignore[union-attr]

    def feedback(self, parent: Candidate) -> Feedback | None:
        if parent.evaluation is None or not parent.evaluation.scores:
            return None
        return Feedback(parent.evaluation.scores, prompt=parent.prompt)

    async def propose(self, parent: Candidate, n: int, round: int) -> list[Candidate]:
        """Ask the optimizer for `n` rewrites of `parent`; fall back to templates if it gives none."""
        with self.usage.stage("optimize"):
            try:
                prompts = await self.optimizer.propose(
                    parent.prompt, self.goal, n, original=self.prompt,
                    feedback=self.feedback(parent), usage=self.usage)
                source = "optimizer"
                if not any(p.strip() for p in prompts):
                    raise OptimizerError(f"the optimizer returned nothing usable for round {round}")
            except (OptimizerError, EndpointError) as exc:
                # The alignment goes on with the goal stated plainly; the failure stays on record.
                self.record_error(exc, "optimize")
                prompts = await self.templates.propose(parent.prompt, self.goal, n, original=self.prompt,
                                                       feedback=self.feedback(parent))
                source = "template"
        return [self.add(p, round, source, parent) for p in prompts]

    async def evaluate(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """One policy call per candidate (concurrently, each with its own reserved budget unit and
        seed), then one batch of reference scoring. Returns those that got an answer."""
        async def call(candidate: Candidate) -> Candidate | None:
            reservation = self.budget.try_reserve()
            if reservation is None:
                candidate.drop("search", "budget exhausted before its policy call")
                return None
            with reservation:
                seed = self.next_seed()
                messages = [*self.context_messages, {"role": "user", "content": candidate.prompt}]
                try:
                    reply = await self.policy(messages, seed, self.usage)
                except HiaError as exc:
                    candidate.status, candidate.dropped_by, candidate.reason = "failed", "error", str(exc)
                    self.record_error(exc, "policy", candidate)
                    return None
                reservation.commit()
            candidate.status = "evaluated"
            candidate.evaluation = Evaluation(
                response=reply.text, scores={}, rewards={}, seed=seed, prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens, finish_reason=reply.finish_reason)
            return candidate

        with self.usage.stage("policy"):
            answered = [c for c in await asyncio.gather(*(call(c) for c in candidates)) if c is not None]
        if answered:
            await self._score(answered)
        return answered

    async def _score(self, answered: Sequence[Candidate]) -> None:
        attributes = self.goal.attributes
        with self.usage.stage("reward"):
            try:
                raw = await self.reference.ascore([self.prompt] * len(answered),
                                                  [c.evaluation.response for c in answered],  # type: ignore[union-attr]
                                                  attributes, usage=self.usage)
                scores = check_scores(raw, len(answered), attributes, self.reference)
            except (RewardModelError, EndpointError) as exc:
                # The answers were paid for: keep them, unscored, and say why.
                self.record_error(exc, "reward")
                return
            for c, row in zip(answered, scores):
                c.evaluation.scores = {a: round(float(v), 4) for a, v in zip(attributes, row)}  # type: ignore[union-attr]
                c.evaluation.rewards = {k: round(v, 4) for k, v in all_rewards(c.evaluation.scores, self.goal).items()}  # type: ignore[union-attr]
        if self.online_learning and self.heuristic is not None:
            # Real answers are evidence for the heuristic (a no-op for untrained heuristics).
            self.heuristic.update([c.prompt for c in answered], np.asarray(scores), attributes)

    def seed_candidate(self) -> Candidate:
        """The user's prompt with the goal stated plainly: the root every search starts from."""
        return self.add(goal_conditioned_prompt(self.prompt, self.goal), round=0, source="seed")


class Search(ABC):
    """A search strategy: spends the context's budget and leaves every candidate in the result."""

    name: str
    uses_filters: bool = False  # HIA: the aligner must supply a heuristic and an embedder

    @abstractmethod
    async def run(self, ctx: SearchContext) -> None:
        ...
