"""Requests per second to an endpoint, shared by everything that calls it, and strict.

A RateLimiter does two things. It hands out evenly spaced send times (a generic cell rate
algorithm: each request claims the next free slot, `1 / per_second` after the last one, and waits
for it), so a burst of concurrent calls is spread out instead of refused by the provider with
429s. And at the moment a request is about to go out it is admitted only if fewer than
`capacity` requests went out in the last RATE_LIMIT_WINDOW_S (a sliding log of send times): the
rate, rounded down, plus `burst` (default 0). So however the sends were delayed (an event loop
stalled by a model loading, retries, slots that woke late together), no one-second window ever
holds more than the rate allows. The window is a little longer than a second
(RATE_LIMIT_WINDOW_S), so the jitter between sending and the provider's arrival stays inside it.

The promise is kept at admission. The provider sees the sends shifted by their transit: within
one process that is the HTTP client's few milliseconds; across Ray workers the actor's reply to
`admit` adds its RPC time, which on a loaded machine can exceed the window's 0.1 s of slack, so a
provider counting arrivals may then see one or two more than the rate in a second (never the
workers' sum).

One limiter is shared by every alignment in a process. The Ray engine keeps one in an actor
that every worker asks for its slots and its admissions (hia.engine.ray_runner), so a cluster of
N workers sends at the rate given, not N times it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from typing import Awaitable, Callable, Protocol

from hia import _defaults as D
from hia.errors import InputError


class Pace(Protocol):
    """Anything that an endpoint awaits before it sends each request (each retry included)."""

    per_second: float

    async def wait(self) -> None: ...


async def wait_for_slot(claim: Callable[[], Awaitable[float]], admit: Callable[[], Awaitable[float]]) -> None:
    """Claim a send slot (a wall-clock time), sleep until it, then ask to be admitted, sleeping as
    long as told until the window has room. Slots are times, not delays, so a slot handed out by
    another process is kept however long the answer took to come back."""
    delay = await claim() - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    while (delay := await admit()) > 0:
        await asyncio.sleep(delay)


class RateLimiter:
    def __init__(self, per_second: float, *, burst: int = D.RATE_LIMIT_BURST) -> None:
        if isinstance(per_second, bool) or not isinstance(per_second, (int, float)) or not math.isfinite(per_second) \
                or per_second <= 0:
            raise InputError(f"a rate limit is a positive number of requests per second, got {per_second!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
            raise InputError(f"burst must be a whole number of at least 0, got {burst!r}")
        self.per_second = float(per_second)
        self.burst = burst
        self.window = D.RATE_LIMIT_WINDOW_S
        # at most this many sends in any window: the rate over one second, rounded down (at least one)
        self.capacity = max(1, math.floor(self.per_second)) + burst
        self._interval = 1.0 / self.per_second
        self._next = 0.0  # the earliest send time of the next request (time.time: other processes read it)
        self._sent: deque[float] = deque()  # send times within the last window
        self._lock = threading.Lock()

    def claim(self) -> float:
        """Claim the next send slot; returns its time (time.time(); now or later)."""
        with self._lock:
            now = time.time()
            slot = max(self._next, now - self.burst * self._interval)
            self._next = slot + self._interval
        return max(slot, now)

    def admit(self) -> float:
        """0.0 when a request may go out now (it is counted as sent), else the seconds to wait
        before asking again: until the oldest send in the window leaves it."""
        with self._lock:
            now = time.time()
            while self._sent and self._sent[0] <= now - self.window:
                self._sent.popleft()
            if len(self._sent) >= self.capacity:
                return self._sent[0] + self.window - now
            self._sent.append(now)
            return 0.0

    async def wait(self) -> None:
        await wait_for_slot(self._claim_async, self._admit_async)

    async def _claim_async(self) -> float:
        return self.claim()

    async def _admit_async(self) -> float:
        return self.admit()

    def __repr__(self) -> str:
        return f"RateLimiter(per_second={self.per_second:g}, burst={self.burst})"
