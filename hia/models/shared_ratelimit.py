"""The rate limiter in Redis, for replicas and workers on any number of machines: the same slots
and the same sliding window as RateLimiter, kept by scripts that run atomically on the server.

Every proxy replica, batch and Ray worker that names the same Redis and the same limiter `name`
(by default the endpoint's URL and model) shares one rate.
"""

from __future__ import annotations

import time
import uuid

from hia import _defaults as D
from hia.models.ratelimit import Pace, RateLimiter
from hia.storage.redis_store import RedisStore

# KEYS[1]: the time (ms, Redis's clock) of the next free slot. ARGV: interval ms, burst.
# Returns the delay (ms, as a string: Lua numbers come back as integers otherwise) until the slot.
CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now - burst * interval)
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', math.ceil(slot + interval - now) + 60000)
return tostring(math.max(slot, now) - now)
"""

# KEYS[1]: a sorted set of the window's sends (member: ticket, score: ms). ARGV: window ms,
# capacity, a ticket handed back (or ''), the new ticket. Returns {wait ms, ticket or ''}.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[1], ARGV[3]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= capacity then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {tostring(tonumber(oldest[2]) + window - now), ''}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window) * 2)
return {'0', ARGV[4]}
"""


class RedisRateLimiter(Pace):
    """A RateLimiter whose slots and window live in Redis under `name`."""

    def __init__(self, store: RedisStore, name: str, per_second: float, *, burst: int = D.RATE_LIMIT_BURST) -> None:
        rules = RateLimiter(per_second, burst=burst)  # the same checks and the same capacity
        self.per_second, self.burst, self.capacity, self.window = rules.per_second, burst, rules.capacity, rules.window
        self.store = store
        self.name = name
        self._slots = store.key("rate", name, "next")
        self._sends = store.key("rate", name, "sent")

    async def _claim(self) -> float:
        delay_ms = float(await self.store.arun(CLAIM, [self._slots], [1000.0 / self.per_second, self.burst]))
        return time.time() + delay_ms / 1000

    async def _admit(self, handed_back: str | None) -> tuple[float, str]:
        wait_ms, ticket = await self.store.arun(ADMIT, [self._sends], [
            1000.0 * self.window, self.capacity, handed_back or "", uuid.uuid4().hex])
        return float(wait_ms) / 1000, ticket.decode() if isinstance(ticket, bytes) else str(ticket)

    def __repr__(self) -> str:
        return f"RedisRateLimiter({self.name!r}, per_second={self.per_second:g}, burst={self.burst}, store={self.store!r})"
