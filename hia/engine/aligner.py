"""The engine: `AsyncAligner.align` and its blocking twin `Aligner.align`.

Batches of alignments are hia.engine.batch's `align_many(aligner, items, ...)`: the aligner
knows nothing of batches or Ray."""

from __future__ import annotations

import itertools
import time
import warnings
from typing import Any, Mapping, Protocol, Sequence

from hia import _defaults as D
from hia.core.budget import Budget, whole_calls
from hia.core.goal import Goal
from hia.core.loop import LoopThread
from hia.core.objectives import get_objective
from hia.core.results import AlignmentResult
from hia.core.tracing import annotate, span
from hia.errors import BudgetExhausted, HiaError, InputError, UnjudgeableGoalWarning
from hia.models.embeddings import Embedder, shared_embedder
from hia.models.optimizer import PromptOptimizer, TemplateOptimizer
from hia.models.policy import Message, PolicyFn, as_policy_fn
from hia.models.ratelimit import Pace
from hia.rewards.base import HeuristicRewardModel, ReferenceRewardModel
from hia.rewards.shipped import default_heuristic
from hia.search import make_search, steps
from hia.search.base import SearchContext
from hia.search.filters import FilterSettings
from hia.search.options import SearchOptions, check_method, check_objective

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


class AlignerRecipe(Protocol):
    """Makes this aligner again in another process (a Ray worker), picklable. hia.build gives one
    to every aligner it builds on a policy that has a spec (`ChatPolicy.spec`)."""

    rate_limit: float | None  # the policy's requests per second, which every process that makes it shares
    rate_limit_name: str  # what the shared limiter is known by (the endpoint and model)

    def __call__(self, rate_limiter: Pace | None) -> "AsyncAligner": ...


class AsyncAligner:
    """Aligns answers of a black-box chat model to goals, under a budget of policy calls.

    policy:     the expensive model: ChatPolicy, AsyncChatPolicy or any callable prompt -> text.
    reference:  the reference reward model that scores its answers and picks the one returned.
    optimizer:  proposes rewrites (default: TemplateOptimizer, which needs no model).
    heuristic:  predicts scores from prompts for HIA's stage 2 (default: the shipped PolicyHeuristic).
    options:    the search: method, objective, default budget, seed, sizes (SearchOptions).
    filters:    HIA's stage-1 thresholds (FilterSettings).
    recipe:     how another process makes the same aligner (set by hia.build; the Ray engine needs it).
    """

    def __init__(
        self,
        policy: Any,
        reference: ReferenceRewardModel,
        *,
        optimizer: PromptOptimizer | None = None,
        heuristic: HeuristicRewardModel | None = None,
        embedder: Embedder | None = None,
        options: SearchOptions = SearchOptions(),
        filters: FilterSettings = FilterSettings(),
        recipe: AlignerRecipe | None = None,
    ) -> None:
        if not isinstance(options, SearchOptions):
            raise InputError(f"options must be a hia.SearchOptions, got {type(options).__name__}")
        if not isinstance(filters, FilterSettings):
            raise InputError(f"filters must be a hia.FilterSettings, got {type(filters).__name__}")
        self.policy = policy
        self.policy_fn: PolicyFn = as_policy_fn(policy)  # what the searches await; a batch wraps it
        self.reference = reference
        self.optimizer = optimizer or TemplateOptimizer()
        self._heuristic = heuristic
        self._embedder = embedder
        self.options = options
        self.filters = filters
        self.recipe = recipe

    @property
    def max_budget(self) -> int:
        return self.options.max_budget

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = shared_embedder()  # loaded only when a filter first needs it
        return self._embedder

    @property
    def heuristic(self) -> HeuristicRewardModel:
        if self._heuristic is None:
            self._heuristic = default_heuristic(self.embedder)  # learns this aligner's policy, in memory
        return self._heuristic

    async def align(
        self,
        prompt: str,
        goal: Goal | str | Mapping[str, float],
        *,
        budget: int | Budget | None = None,
        allowance: int | None = None,
        method: str | None = None,
        objective: str | None = None,
        messages: Sequence[Message] = (),
        resume: AlignmentResult | None = None,
        policy: PolicyFn | None = None,
    ) -> AlignmentResult:
        """Spend at most `budget` policy calls (default: the options' budget) and return the answer
        that best meets `goal`.

        `resume` continues an earlier alignment of the same prompt and goal with `budget` more
        calls: its candidates and answers are kept, the search goes on from its best answers, and
        the result returned is that same object, extended (its `budget` is the sum). `policy`
        replaces the aligner's policy function for this alignment only (a batch passes one that
        journals every answer).

        `messages` (a system prompt, earlier turns) go before the candidate prompt in every call.
        `budget` may be a Budget shared with other alignments; this one then draws at most
        `allowance` calls from it (default: the options' budget), so no alignment can starve the
        rest. Either way one alignment spends at most `max_budget` calls. If no call could be made
        at all, BudgetExhausted is raised (with the result attached as `error.result`).
        """
        search, ctx = self._plan(prompt, goal, budget, allowance, method, objective, messages, resume, policy)
        result = ctx.result
        with span("hia.align", method=result.method, budget=result.budget, goal=str(result.goal),
                  objective=result.objective) as current:
            try:
                await run_search(search, ctx)
                return finish(ctx)
            finally:
                annotate(current, policy_calls=result.usage.policy_calls, candidates=len(result.candidates),
                         chosen=result.chosen_id)

    def _plan(self, prompt: str, goal: Goal | str | Mapping[str, float], budget: int | Budget | None,
              allowance: int | None, method: str | None, objective: str | None, messages: Sequence[Message],
              resume: AlignmentResult | None, policy: PolicyFn | None) -> tuple[Any, SearchContext]:
        """Everything an alignment does before its first call: the checks, the search and its context."""
        prompt = _check_prompt(prompt)
        goal = Goal.coerce(goal)
        if isinstance(messages, (str, bytes)) or not all(isinstance(m, Mapping) for m in messages):
            raise InputError("messages must be a list of {'role': ..., 'content': ...} dicts (the turns before the "
                             f"prompt), got {type(messages).__name__}")
        options = self.options
        if isinstance(budget, Budget):
            own = whole_calls(options.budget if allowance is None else allowance, ceiling=options.max_budget,
                              what="allowance")
            allowed = Budget(own, parent=budget)
        else:
            allowed = Budget(whole_calls(options.budget if budget is None else budget, ceiling=options.max_budget))
        warn_if_unjudgeable(goal, self.reference)
        method = check_method(method or options.method)
        objective_name = check_objective(objective or options.objective)
        search = make_search(method, options)
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
            result=result, filters=self.filters, context_messages=list(messages), base_seed=options.seed,
            online_learning=options.online_learning,
            # Call i of the alignment uses seed base_seed + i; a resumed one goes on from its last.
            seeds=itertools.count(len(result.candidates)),
        )
        return search, ctx


async def run_search(search: Any, ctx: SearchContext) -> None:
    """The search itself: every policy call of the alignment happens here."""
    start = time.perf_counter()
    try:
        await search.run(ctx)
    except HiaError as exc:
        exc.result = ctx.result  # the work paid for so far stays reachable
        raise
    finally:
        ctx.result.usage.wall_seconds += time.perf_counter() - start


def finish(ctx: SearchContext) -> AlignmentResult:
    """The answer chosen, or the typed error that says why there is none."""
    result = ctx.result
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
        where = "the shared budget has none left" if ctx.budget.parent is not None else "the search made none"
        exc = BudgetExhausted(f"no policy call could be made ({where}); nothing was answered")
        exc.result = result
        raise exc
    return result


class Aligner:
    """Blocking twin of AsyncAligner: the same arguments and the same `align`, driven on a private
    event loop. `asynchronous` is the AsyncAligner it drives (give it to hia.align_many)."""

    def __init__(
        self,
        policy: Any,
        reference: ReferenceRewardModel,
        *,
        optimizer: PromptOptimizer | None = None,
        heuristic: HeuristicRewardModel | None = None,
        embedder: Embedder | None = None,
        options: SearchOptions = SearchOptions(),
        filters: FilterSettings = FilterSettings(),
        recipe: AlignerRecipe | None = None,
    ) -> None:
        self.asynchronous = AsyncAligner(policy, reference, optimizer=optimizer, heuristic=heuristic,
                                         embedder=embedder, options=options, filters=filters, recipe=recipe)
        self._loop = LoopThread()

    def __getattr__(self, name: str) -> Any:
        if name == "asynchronous":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.asynchronous, name)  # one set of attributes: the async aligner's

    def align(
        self,
        prompt: str,
        goal: Goal | str | Mapping[str, float],
        *,
        budget: int | Budget | None = None,
        allowance: int | None = None,
        method: str | None = None,
        objective: str | None = None,
        messages: Sequence[Message] = (),
        resume: AlignmentResult | None = None,
        policy: PolicyFn | None = None,
    ) -> AlignmentResult:
        """AsyncAligner.align, blocking."""
        search, ctx = self.asynchronous._plan(prompt, goal, budget, allowance, method, objective, messages, resume,
                                              policy)
        self._loop.run(run_search(search, ctx))
        return finish(ctx)

    def close(self) -> None:
        self._loop.close()

    def __enter__(self) -> "Aligner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Aligner", "AsyncAligner", "AlignerRecipe"]
