"""A rate limiter spaces requests evenly, lets a burst through after an idle spell, and never lets
more than the rate out in any one-second window, stalls included."""

import asyncio
import time

import pytest

from hia import AsyncChatPolicy, InputError, RateLimiter
from hia import _defaults as D
from hia.models.ratelimit import wait_for_admission
from tests.support.loopback import LoopbackServer


def test_slots_are_one_interval_apart():
    limiter = RateLimiter(10)
    slots = [limiter.claim() for _ in range(5)]
    gaps = [b - a for a, b in zip(slots, slots[1:])]
    assert gaps == pytest.approx([0.1] * 4)
    assert slots[0] <= time.time()  # the first request goes now


def test_a_burst_passes_at_once_after_an_idle_spell(monkeypatch):
    import types

    from hia.models import ratelimit

    now = 1_000_000.0  # a stopped clock: the slots depend on the limiter alone, not on how fast this runs
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: now, monotonic=time.monotonic))
    limiter = RateLimiter(10, burst=2)
    slots = [limiter.claim() for _ in range(4)]
    assert slots[:3] == [now] * 3 and slots[3] == pytest.approx(now + 0.1)  # the burst beyond the first, then spacing
    assert limiter.capacity == 12


def test_no_window_admits_more_than_the_rate_however_late_the_slots_woke():
    limiter = RateLimiter(5)
    # Slots long past (an event loop that stalled through all of them): each asks to go now.
    admitted = [limiter.admit()[0] for _ in range(8)]
    assert admitted[:5] == [0.0] * 5
    assert all(0 < wait <= limiter.window for wait in admitted[5:])  # the rest wait for the window to move on

    async def admit(handed_back: str | None) -> tuple[float, str]:
        return limiter.admit(handed_back)

    started = time.time()
    asyncio.run(wait_for_admission(admit))
    # it went out only when the oldest of the five left the window
    assert time.time() - started >= admitted[5] - 0.01


def test_an_admission_answered_late_is_handed_back_and_asked_again():
    limiter = RateLimiter(5)
    answers: list[float] = []

    async def slow_then_quick(handed_back: str | None) -> tuple[float, str]:
        if not answers:  # the first answer takes longer than an admission stays fresh
            await asyncio.sleep(3 * D.RATE_LIMIT_FRESH_S)
        answers.append(time.time())
        return limiter.admit(handed_back)

    asyncio.run(wait_for_admission(slow_then_quick))
    assert len(answers) == 2  # asked again after the late answer
    # the late admission was handed back: the window holds one send, so four more fit, not three
    assert [limiter.admit()[0] for _ in range(5)] == [0.0] * 4 + [pytest.approx(limiter.window, abs=0.2)]


def busiest_second(arrivals: list[float]) -> int:
    return max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)


def test_a_policy_with_a_limiter_never_sends_more_than_the_rate_in_a_second_even_through_a_stall():
    rate, n = 20, 50

    async def burst(policy: AsyncChatPolicy) -> None:
        async def stall() -> None:
            await asyncio.sleep(0.6)
            time.sleep(0.5)  # the event loop blocked: every slot due meanwhile wakes late, together

        await asyncio.gather(stall(), *(policy.complete([{"role": "user", "content": f"q{i}"}], seed=i)
                                        for i in range(n)))

    with LoopbackServer() as upstream:
        asyncio.run(burst(AsyncChatPolicy("m", base_url=upstream.base_url, rate_limiter=RateLimiter(rate))))
        arrivals = sorted(upstream.arrivals)
    assert len(arrivals) == n
    assert busiest_second(arrivals) <= rate  # strict: no burst beyond the rate, stall or not
    # and not slower than the window allows: the last of 50 goes out within (50 / 20) windows
    assert arrivals[-1] - arrivals[0] <= (n / rate) * D.RATE_LIMIT_WINDOW_S + 1.0


@pytest.mark.parametrize("rate", [0, -2, float("inf"), "5"])
def test_a_rate_that_is_not_a_positive_number_is_refused(rate):
    with pytest.raises(InputError, match="rate limit"):
        RateLimiter(rate)


def test_the_blocking_wrapper_passes_calls_through_at_the_rate_from_many_threads():
    import concurrent.futures

    import openai

    import hia

    rate, n = 10, 30
    with LoopbackServer() as upstream:
        client = hia.wrap(openai.OpenAI(base_url=upstream.base_url, api_key="k", max_retries=0),
                          rate_limiter=RateLimiter(rate))

        def one(i: int) -> str:
            return client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"q{i}"}],
                                                  max_tokens=2).choices[0].message.content

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(n)))
        client.close()
        arrivals = sorted(upstream.arrivals)
    assert len(answers) == n and len(arrivals) == n
    assert busiest_second(arrivals) <= rate  # admitted as each request went out, not before
