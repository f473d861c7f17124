"""The engine: `AsyncAligner.align` and its blocking twin `Aligner.align`."""

from __future__ import annotations

import itertools
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from . import _defaults as D
from ._loop import LoopThread
from .budget import Budget, whole_calls
from .errors import BudgetExhausted, HiaError, InputError, UnjudgeableGoalWarning
from .goal import Goal
from .objectives import get_objective
from .optimizer import PromptOptimizer, TemplateOptimizer
from .policy import Message, PolicyFn, as_policy_fn
from .rewards.base import HeuristicRewardModel, ReferenceRewardModel
from .rewards.embeddings import Embedder, shared_embedder
from .rewards.heuristic import ZeroShotHeuristic
from .search import SearchOptions, make_search
from .search import steps
from .search.base import SearchContext
from .search.filters import FilterSettings
from .types import AlignmentResult

if TYPE_CHECKING:
    from .batch import BatchReport
    from .ray_engine import RayOptions


_warned: set[tuple[int, str]] = set()


def warn_if_unjudgeable(goal: Goal, reference: ReferenceRewardModel) -> list[str]:
    """Warn, once per goal and reference, about goal attributes the reference was measured unable
    to judge (agreement with human ratings under UNJUDGEABLE_SPEARMAN). Returns those attributes."""
    weak = [(a, v) for a in goal.attributes if (v := reference.agreement(a)) is not None and v < D.UNJUDGEABLE_SPEARMAN]
    key = (id(reference), str(goal))
    if weak and key not in _warned:
        _warned.add(key)
        named = ", ".join(f"{a} (Spearman {v:.2f})" for a, v in weak)
        warnings.warn(
            f"the reference {type(getattr(reference, 'inner', reference)).__name__} cannot judge {named}: its agreement with human ratings is "
            f"under {D.UNJUDGEABLE_SPEARMAN}, so answers would be chosen on noise for "
            f"{'it' if len(weak) == 1 else 'them'}. Use a reference that can (hia.LLMJudge on a capable model: "
            "--reference judge --judge-base-url URL --judge-model NAME; or a TransformersRewardModel), or leave "
            f"{'it' if len(weak) == 1 else 'them'} out of the goal.", UnjudgeableGoalWarning, stacklevel=3)
    return [a for a, _ in weak]


def _check_prompt(prompt: object) -> str:
    if not isinstance(prompt, str):
        raise InputError(f"the prompt must be a string, got {type(prompt).__name__}")
    if not prompt.strip():
        raise InputError("the prompt is empty; pass the question or instruction to align an answer for")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("the prompt is not valid UTF-8 text (it holds undecodable bytes); pass it as UTF-8, "
                         "for example by re-encoding the file or terminal input") from None
    return prompt


class AsyncAligner:
    """Aligns answers of a black-box chat model to goals, under a budget of policy calls.

    policy:     the expensive model: ChatPolicy, AsyncChatPolicy or any callable prompt -> text.
    reference:  the reference reward model that scores its answers and picks the one returned.
    optimizer:  proposes rewrites (default: TemplateOptimizer, which needs no model).
    heuristic:  predicts scores from prompts for HIA's stage 2 (default: ZeroShotHeuristic).
    """

    def __init__(
        self,
        policy: Any,
        reference: ReferenceRewardModel,
        *,
        optimizer: PromptOptimizer | None = None,
        heuristic: HeuristicRewardModel | None = None,
        embedder: Embedder | None = None,
        method: str = D.DEFAULT_METHOD,
        objective: str = D.DEFAULT_OBJECTIVE,
        filters: FilterSettings | None = None,
        seed: int = D.POLICY_BASE_SEED,
        online_learning: bool = True,
        hia_candidates: int = D.HIA_CANDIDATES_PER_ROUND,
        beam_width: int = D.BEAM_WIDTH,
        beam_expansions: int = D.BEAM_EXPANSIONS,
        max_budget: int = D.MAX_BUDGET,
    ) -> None:
        self.policy = policy
        self.policy_fn: PolicyFn = as_policy_fn(policy)  # what the searches await; align_many wraps it
        self.reference = reference
        self.optimizer = optimizer or TemplateOptimizer()
        self._heuristic = heuristic
        self._embedder = embedder
        self.method = method
        self.objective = objective
        self.filters = filters or FilterSettings()
        self.seed = seed
        self.online_learning = online_learning
        self.max_budget = whole_calls(max_budget, ceiling=None, what="max_budget")
        self.search_options = SearchOptions(hia_candidates, beam_width, beam_expansions)
        self.settings: Any = None  # the hia.build Settings it was made from, if any (the Ray engine needs them)
        make_search(method, self.search_options)  # fail now on an unknown method
        get_objective(objective)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = shared_embedder()  # loaded only when a filter first needs it
        return self._embedder

    @property
    def heuristic(self) -> HeuristicRewardModel:
        if self._heuristic is None:
            self._heuristic = ZeroShotHeuristic(self.embedder)
        return self._heuristic

    async def align(
        self,
        prompt: str,
        goal: Goal | str | Mapping[str, float],
        *,
        budget: int | Budget = D.DEFAULT_BUDGET,
        allowance: int | None = None,
        method: str | None = None,
        objective: str | None = None,
        messages: Sequence[Message] = (),
        resume: AlignmentResult | None = None,
        policy: PolicyFn | None = None,
    ) -> AlignmentResult:
        """Spend at most `budget` policy calls and return the answer that best meets `goal`.

        `resume` continues an earlier alignment of the same prompt and goal with `budget` more
        calls: its candidates and answers are kept, the search goes on from its best answers, and
        the result returned is that same object, extended (its `budget` is the sum). `policy`
        replaces the aligner's policy function for this alignment only (align_many passes one
        that journals every answer).

        `messages` (a system prompt, earlier turns) go before the candidate prompt in every call.
        `budget` may be a Budget shared with other alignments; this one then draws at most
        `allowance` calls from it (default DEFAULT_BUDGET), so no alignment can starve the rest.
        Either way one alignment spends at most `max_budget` calls. If no call could be made at
        all, BudgetExhausted is raised (with the result attached as `error.result`).
        """
        prompt = _check_prompt(prompt)
        goal = Goal.coerce(goal)
        if isinstance(budget, Budget):
            own = whole_calls(D.DEFAULT_BUDGET if allowance is None else allowance, ceiling=self.max_budget,
                              what="allowance")
            allowed = Budget(own, parent=budget)
        else:
            allowed = Budget(whole_calls(budget, ceiling=self.max_budget))
        warn_if_unjudgeable(goal, self.reference)
        method = method or self.method
        objective_name = objective or self.objective
        search = make_search(method, self.search_options)
        filtered = search.uses_filters
        if resume is not None:
            if resume.prompt != prompt or resume.goal != goal or resume.method != method:
                raise InputError("resume= continues an alignment of the same prompt, goal and method; got another")
            result = resume
            result.budget += allowed.total
        else:
            result = AlignmentResult(prompt=prompt, goal=goal, method=method, budget=allowed.total,
                                     objective=objective_name)
        ctx = SearchContext(
            prompt=prompt, goal=goal, budget=allowed, objective=get_objective(objective_name),
            policy=policy or self.policy_fn, optimizer=self.optimizer, reference=self.reference,
            heuristic=self.heuristic if filtered else self._heuristic,
            embedder=self.embedder if filtered else None,  # type: ignore[arg-type]
            result=result, filters=self.filters, context_messages=list(messages), base_seed=self.seed,
            online_learning=self.online_learning,
            # Call i of the alignment uses seed base_seed + i; a resumed one goes on from its last.
            seeds=itertools.count(len(result.candidates)),
        )
        start = time.perf_counter()
        try:
            await search.run(ctx)
        except HiaError as exc:
            exc.result = result  # the work paid for so far stays reachable
            raise
        finally:
            result.usage.wall_seconds += time.perf_counter() - start
        best = steps.best(ctx)
        answered = result.evaluated
        if best:
            result.chosen_id = best[0].id
        elif answered:
            result.chosen_id = answered[0].id  # answers came back but none could be scored
        elif ctx.last_exception is not None:
            exc = ctx.last_exception
            exc.result = result  # paid work stays reachable
            raise exc
        else:
            where = "the shared budget has none left" if allowed.parent is not None else "the search made none"
            exc = BudgetExhausted(f"no policy call could be made ({where}); nothing was answered")
            exc.result = result
            raise exc
        return result

    async def align_many(self, items: Iterable[Any], *, output: str | Path, budget_per_item: int = D.DEFAULT_BUDGET,
                         shared_budget: Budget | None = None, total_budget: int | None = None,
                         concurrency: int = D.BATCH_CONCURRENCY, progress: bool = True,
                         fsync: bool = False, engine: str = "inprocess", ray: "RayOptions | None" = None) -> "BatchReport":
        """Align many items concurrently, one JSONL record per item in `output`; resumable (see hia.batch).
        `total_budget` spends one budget over the whole batch where it pays (see hia.allocation);
        `engine="ray"` runs the searches on a Ray cluster (see hia.ray_engine)."""
        from .batch import align_many

        return await align_many(self, items, output=output, budget_per_item=budget_per_item,
                                shared_budget=shared_budget, total_budget=total_budget, concurrency=concurrency,
                                progress=progress, fsync=fsync, engine=engine, ray=ray)


class Aligner:
    """Blocking twin of AsyncAligner: same arguments, same `align` and `align_many`."""

    def __init__(self, policy: Any, reference: ReferenceRewardModel, **kwargs: Any) -> None:
        self._async = AsyncAligner(policy, reference, **kwargs)
        self._loop = LoopThread()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._async, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_async", "_loop"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._async, name, value)  # one set of attributes: the async aligner's

    def align(self, prompt: str, goal: Goal | str | Mapping[str, float], **kwargs: Any) -> AlignmentResult:
        return self._loop.run(self._async.align(prompt, goal, **kwargs))

    def align_many(self, items: Iterable[Any], **kwargs: Any) -> "BatchReport":
        return self._loop.run(self._async.align_many(items, **kwargs))

    def close(self) -> None:
        self._loop.close()

    def __enter__(self) -> "Aligner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Aligner", "AsyncAligner"]
