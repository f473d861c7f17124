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

The promise is kept at the send, not only at admission: a limiter in another process (a Ray
actor, Redis) answers `admit` after a round trip whose time varies with the load. A reply that
took longer than RATE_LIMIT_FRESH_S is not acted on: its admission is handed back and asked for
again, so every request goes out within RATE_LIMIT_FRESH_S of the time it was counted at.
Window, freshness and the send-to-arrival delay together fit in the window's tenth of a second
of slack.

One limiter is shared by every alignment in a process. The Ray engine keeps one in an actor
that every worker asks for its slots and its admissions (hia.engine.ray_runner), so a cluster of
N workers sends at the rate given, not N times it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from typing import Any, Awaitable, Callable

from hia import _defaults as D
from hia.errors import InputError

log = logging.getLogger("hia.ratelimit")


Admit = Callable[[str | None], Awaitable[tuple[float, str]]]


class Pace:
    """What an endpoint awaits for each request it sends (each retry included): `slot()` before
    it starts the request, spacing requests evenly, and `admission()` at the moment its bytes go
    out (the endpoint's HTTP client calls it once its connection is ready), where the window
    decides. `wait()` is both at once, for a client whose sending hia cannot see into.

    A limiter gives two operations, local or remote: `_claim()` (the next send slot, a
    time.time()) and `_admit(handed_back)`, as RateLimiter.admit."""

    per_second: float

    async def _claim(self) -> float:
        raise NotImplementedError

    async def _admit(self, handed_back: str | None) -> tuple[float, str]:
        raise NotImplementedError

    async def slot(self) -> None:
        """Sleep until this request's send slot. Slots are times, not delays, so a slot handed out
        by another process is kept however long its answer took to come back."""
        delay = await self._claim() - time.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def admission(self) -> None:
        await wait_for_admission(self._admit)

    async def wait(self) -> None:
        await self.slot()
        await self.admission()


class SlotsOnly(Pace):
    """A limiter's slots without its window, for a client whose HTTP client asks the window itself
    as each request goes out (admitting_http_client): waiting costs no second admission."""

    def __init__(self, limiter: Pace) -> None:
        self.limiter = limiter
        self.per_second = limiter.per_second

    async def slot(self) -> None:
        await self.limiter.slot()

    async def admission(self) -> None:
        return None


def admitting_http_client(limiter: Pace) -> Any:
    """An HTTP client for openai.AsyncOpenAI whose requests each wait for `limiter`'s admission
    at the moment their first bytes go out, after the connection is made. Between the start of a
    call and its send, a new connection or a busy event loop can take a tenth of a second, enough
    to crowd one second with more than the rate; at the send nothing is left to delay it.
    (httpcore calls a request's "trace" extension at each step of sending it.)"""
    import openai

    async def at_send(name: str, info: dict) -> None:
        if name.endswith(".send_request_headers.started"):
            await limiter.admission()

    async def traced(request: Any) -> None:
        request.extensions = {**request.extensions, "trace": at_send}

    return openai.DefaultAsyncHttpxClient(event_hooks={"request": [traced]})


async def wait_for_admission(admit: Admit, *, fresh_s: float = D.RATE_LIMIT_FRESH_S,
                             stale_tries: int = D.RATE_LIMIT_STALE_TRIES) -> None:
    """Ask to be admitted, sleeping as long as told until the window has room.

    `admit(handed_back)` answers (0, ticket) when the request may go now and (seconds to wait, "")
    when not; `handed_back` is the ticket of an admission this caller will not use. An admission
    whose answer took longer than `fresh_s` to resume this task (a remote limiter's round trip, a
    busy event loop) is handed back and asked for again: the request would go out too long after
    the time it was counted at. After `stale_tries` slow answers in a row the request goes anyway,
    with a warning, rather than never."""
    handed_back: str | None = None
    stale = 0
    while True:
        asked = time.monotonic()
        wait, ticket = await admit(handed_back)
        if wait > 0:
            handed_back = None
            await asyncio.sleep(wait)
            continue
        if time.monotonic() - asked <= fresh_s:
            return
        stale += 1
        if stale >= stale_tries:
            log.warning("the rate limiter answered slower than %.0f ms %d times in a row; sending anyway, so the "
                        "rate may be exceeded by what its answers' delay lets through", 1000 * fresh_s, stale)
            return
        handed_back = ticket


class RateLimiter(Pace):
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
        self._sent: deque[tuple[float, str]] = deque()  # (send time, ticket) within the last window
        self._tickets = 0
        self._lock = threading.Lock()

    def claim(self) -> float:
        """Claim the next send slot; returns its time (time.time(); now or later)."""
        with self._lock:
            now = time.time()
            slot = max(self._next, now - self.burst * self._interval)
            self._next = slot + self._interval
        return max(slot, now)

    def admit(self, handed_back: str | None = None) -> tuple[float, str]:
        """(0.0, ticket) when a request may go out now (it is counted as sent), else (the seconds
        to wait before asking again: until the oldest send in the window leaves it, ""). A
        `handed_back` ticket is an admission that was not used: it leaves the window first."""
        with self._lock:
            now = time.time()
            if handed_back:
                self._sent = deque(entry for entry in self._sent if entry[1] != handed_back)
            while self._sent and self._sent[0][0] <= now - self.window:
                self._sent.popleft()
            if len(self._sent) >= self.capacity:
                return self._sent[0][0] + self.window - now, ""
            self._tickets += 1
            ticket = str(self._tickets)
            self._sent.append((now, ticket))
            return 0.0, ticket

    async def _claim(self) -> float:
        return self.claim()

    async def _admit(self, handed_back: str | None) -> tuple[float, str]:
        return self.admit(handed_back)

    def __repr__(self) -> str:
        return f"RateLimiter(per_second={self.per_second:g}, burst={self.burst})"
