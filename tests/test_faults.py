"""Faults from a real loopback HTTP server, through the real `openai` client.

The property test draws fault rates, concurrency levels, methods and budgets, and checks that the
budget is never exceeded, that it counts exactly the calls that returned an answer, and that
every alignment ends in a result or a typed error.
"""

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hia import (
    AsyncAligner,
    AsyncChatPolicy,
    Budget,
    FilterSettings,
    HiaError,
    TemplateOptimizer,
)
from hia.core.results import AlignmentResult
from hia.errors import RetriesExhausted
from hia.search import METHODS
from tests.support.loopback import Faults, LoopbackServer

from .fakes import HashEmbedder, KeywordHeuristic, LengthReference

rate = st.floats(min_value=0.0, max_value=0.25)


def aligner(server: LoopbackServer, max_retries: int = 2) -> AsyncAligner:
    policy = AsyncChatPolicy("m", base_url=server.base_url, max_tokens=5, timeout=0.5, max_retries=max_retries,
                             retry_initial_wait=0.001, retry_max_wait=0.02)
    return AsyncAligner(policy, LengthReference(), optimizer=TemplateOptimizer(), heuristic=KeywordHeuristic(),
                        embedder=HashEmbedder(), filters=FilterSettings(drift_similarity=-1.0))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rate_limit=rate, server_error=rate, malformed=rate, reset=rate, hang=st.floats(0.0, 0.05),
       concurrency=st.integers(1, 24), budget=st.integers(1, 40), per_item=st.integers(1, 4),
       method=st.sampled_from(METHODS), seed=st.integers(0, 10_000))
def test_budget_is_never_exceeded_under_random_faults(rate_limit, server_error, malformed, reset, hang, concurrency,
                                                      budget, per_item, method, seed):
    faults = Faults(rate_limit=rate_limit, server_error=server_error, malformed=malformed, reset=reset, hang=hang,
                    retry_after_s=0.005, hang_s=2.0)
    with LoopbackServer(faults=faults, seed=seed) as server:
        shared = Budget(budget)
        engine = aligner(server)

        async def one(i: int):
            # Each alignment has its own allowance, and all of them draw from one shared budget.
            return await engine.align(f"Question {i}?", "verbosity=2", budget=shared, allowance=per_item, method=method)

        async def main():
            return await asyncio.gather(*(one(i) for i in range(concurrency)), return_exceptions=True)

        outcomes = asyncio.run(main())
    answered = server.outcomes["ok"]
    results = [getattr(o, "result", None) if isinstance(o, BaseException) else o for o in outcomes]
    policy = [r.usage.roles["policy"] for r in results if r is not None]
    # Exactly the answers the clients read were paid for, never more, and never over the budget.
    assert shared.used == sum(u.calls for u in policy) <= budget
    # The server sent each of those, and any other answer it sent reached a client that had given up
    # on it (its timeout fired first on a loaded machine), which that client counted as a retry or a failure.
    assert shared.used <= answered <= shared.used + sum(u.retries + u.failures for u in policy)
    assert shared.reserved == 0
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, HiaError), repr(outcome)  # typed, with the paid-for work attached
            assert isinstance(outcome.result, AlignmentResult)
        else:
            assert 1 <= outcome.usage.policy_calls <= per_item  # within its allowance, and it got an answer
            assert outcome.response is not None


def test_when_retries_run_out_the_result_keeps_the_best_answer_and_the_error():
    script = ["ok"] + ["server_error"] * 50
    with LoopbackServer(script=script) as server:
        result = asyncio.run(aligner(server, max_retries=1).align("Why?", "verbosity=2", budget=3, method="greedy"))
    assert result.response is not None and result.usage.policy_calls == 1
    assert any(e.type == "RetriesExhausted" and "HTTP 500" in e.message for e in result.errors)
    assert result.usage.roles["policy"].retries >= 1 and result.usage.roles["policy"].failures >= 1


def test_429_with_retry_after_then_success_costs_one_unit():
    with LoopbackServer(script=["rate_limit", "rate_limit", "ok"], faults=Faults(retry_after_s=0.05)) as server:
        result = asyncio.run(aligner(server).align("Why?", "verbosity=2", budget=1, method="best_of_n"))
    assert result.usage.policy_calls == 1 and result.usage.roles["policy"].retries == 2


def test_a_hang_past_the_timeout_is_retried():
    with LoopbackServer(script=["hang", "ok"], faults=Faults(hang_s=5)) as server:
        result = asyncio.run(aligner(server).align("Why?", "verbosity=2", budget=1, method="best_of_n"))
    assert result.response and result.usage.roles["policy"].retries == 1


def test_all_attempts_failing_raises_the_typed_error_with_the_result():
    with LoopbackServer(script=["reset"] * 20) as server:
        try:
            asyncio.run(aligner(server, max_retries=1).align("Why?", "verbosity=2", budget=2, method="best_of_n"))
        except RetriesExhausted as exc:
            assert len(exc.result.candidates) == 2 and exc.result.usage.policy_calls == 0
        else:
            raise AssertionError("expected RetriesExhausted")
