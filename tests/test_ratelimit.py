"""A rate limiter spaces requests evenly, lets a burst through after an idle spell, and makes a
request that slept through a stall claim a new slot rather than go out with the others."""

import asyncio
import time

import pytest

from hia import AsyncChatPolicy, InputError, RateLimiter
from hia.models.ratelimit import wait_for_slot
from tests.support.loopback import LoopbackServer


def test_slots_are_one_interval_apart():
    limiter = RateLimiter(10)
    slots = [limiter.claim() for _ in range(5)]
    gaps = [b - a for a, b in zip(slots, slots[1:])]
    assert gaps == pytest.approx([0.1] * 4)
    assert slots[0] <= time.time()  # the first request goes now


def test_a_burst_passes_at_once_after_an_idle_spell():
    limiter = RateLimiter(10, burst=3)
    now = time.time()
    slots = [limiter.claim() for _ in range(4)]
    assert all(s <= now + 0.01 for s in slots[:3]) and slots[3] >= now + 0.05


def test_a_request_that_overslept_its_slot_claims_another():
    claims = []

    async def claim() -> float:
        claims.append(time.time())
        return time.time() - 1.0 if len(claims) == 1 else time.time()  # the first slot is long past

    asyncio.run(wait_for_slot(claim, interval=0.1))
    assert len(claims) == 2


def test_a_policy_with_a_limiter_sends_at_the_rate(tmp_path):
    async def burst(policy: AsyncChatPolicy) -> None:
        await asyncio.gather(*(policy.complete([{"role": "user", "content": f"q{i}"}], seed=i) for i in range(12)))

    with LoopbackServer() as upstream:
        asyncio.run(burst(AsyncChatPolicy("m", base_url=upstream.base_url, rate_limiter=RateLimiter(20))))
        arrivals = sorted(upstream.arrivals)
    assert len(arrivals) == 12
    # 12 requests at 20 a second span 0.55 s (sent all at once, they would arrive within a few ms);
    # the first connection's set-up can delay one request onto the next, hence the slack.
    assert arrivals[-1] - arrivals[0] >= 0.75 * 11 / 20  # sends are at least three quarters of a slot apart
    assert max(sum(1 for t in arrivals if start <= t < start + 0.5) for start in arrivals) <= 10 + 2


@pytest.mark.parametrize("rate", [0, -2, float("inf"), "5"])
def test_a_rate_that_is_not_a_positive_number_is_refused(rate):
    with pytest.raises(InputError, match="rate limit"):
        RateLimiter(rate)
