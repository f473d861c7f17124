"""Requests per second to an endpoint, shared by everything that calls it.

A RateLimiter hands out evenly spaced send times (a generic cell rate algorithm: each request
claims the next free slot, `1 / per_second` after the last one, and waits for it), so a burst of
concurrent calls is spread out instead of refused by the provider with 429s. `burst` slots may
be used at once after an idle spell. A request that wakes up late (its event loop was busy: a
model loading, a long CPU step) claims a new slot instead of sending at once, since every request
that slept through the same stall would otherwise go out together.

One limiter is shared by every alignment in a process. The Ray engine keeps one in an actor
that every worker asks for its slots (hia.engine.ray_runner), so a cluster of N workers sends at the
rate given, not N times it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Awaitable, Callable, Protocol

from hia import _defaults as D
from hia.errors import InputError


class Pace(Protocol):
    """Anything that an endpoint awaits before it sends each request (each retry included)."""

    per_second: float

    async def wait(self) -> None: ...


async def wait_for_slot(claim: Callable[[], Awaitable[float]], interval: float) -> None:
    """Claim a send slot (a wall-clock time) and sleep until it; claim again when the sleep
    overran it by more than a quarter of a slot, so two sends are never closer than three quarters
    of one. Slots are times, not delays, so a slot handed out by another process is kept however
    long the answer took to come back."""
    while True:
        at = await claim()
        delay = at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.time() - at <= interval * D.RATE_LIMIT_LATE_SHARE:
            return


class RateLimiter:
    def __init__(self, per_second: float, *, burst: int = D.RATE_LIMIT_BURST) -> None:
        if isinstance(per_second, bool) or not isinstance(per_second, (int, float)) or not math.isfinite(per_second) \
                or per_second <= 0:
            raise InputError(f"a rate limit is a positive number of requests per second, got {per_second!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise InputError(f"burst must be a whole number of at least 1, got {burst!r}")
        self.per_second = float(per_second)
        self.burst = burst
        self._interval = 1.0 / self.per_second
        self._next = 0.0  # the earliest send time of the next request (time.time: other processes read it)
        self._lock = threading.Lock()

    def claim(self) -> float:
        """Claim the next send slot; returns its time (time.time(); now or later)."""
        with self._lock:
            now = time.time()
            slot = max(self._next, now - (self.burst - 1) * self._interval)
            self._next = slot + self._interval
        return max(slot, now)

    async def wait(self) -> None:
        await wait_for_slot(self._claim_async, self._interval)

    async def _claim_async(self) -> float:
        return self.claim()

    def __repr__(self) -> str:
        return f"RateLimiter(per_second={self.per_second:g}, burst={self.burst})"
