"""Per-user daily limits in Redis, exact across any number of proxy replicas.

Each user's day is two keys: the calls committed, and a sorted set of the calls reserved and not
yet settled (each with a lease). A call is reserved before it is dispatched, by a script that
admits it only while committed + reserved is under the limit, and is committed when it returns
an answer or released when it failed for good, as a Budget does in one process. A replica that
dies holding reservations frees them when their leases (REDIS_LEASE_S) run out. The day's tokens
are a counter, and the tokens that requests in flight hold are a hash beside it, which the token
limit reads together (DailyLimits.hold_tokens). Profiles themselves stay in each replica's SQLite file.
"""

from __future__ import annotations

import uuid
from typing import Callable

from hia import _defaults as D
from hia.core.budget import Budget, Reservation
from hia.errors import BudgetExhausted
from hia.serving.profiles import Profile, ProfileStore
from hia.serving.spend import DailyLimits, utc_day
from hia.storage.redis_store import RedisStore

DAY_MS = 2 * 86_400_000  # keys outlive their day by a day, then go

# KEYS: committed, reserved. ARGV: limit, lease ms, member. Returns 1 when reserved, else 0.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local committed = tonumber(redis.call('GET', KEYS[1]) or '0')
if committed + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""

# KEYS: committed, reserved. ARGV: member, 1 to commit (0 to release), key lifetime ms.
# A call that returned is counted even if its lease ran out meanwhile: it was paid.
SETTLE = """
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] == '1' then
  redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""

# KEYS: committed, reserved. Returns {committed, reserved (leases not run out)}.
COUNTS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('ZCARD', KEYS[2])}
"""


# KEYS: the day's tokens, the holds (a hash: member -> tokens). ARGV: limit, tokens, member, key
# lifetime ms. Returns 1 when held, else 0.
HOLD_TOKENS = """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local held = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do held = held + tonumber(v) end
if spent + held + tonumber(ARGV[2]) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""


class RedisBudget(Budget):
    """A user's policy calls for one day, shared in Redis; a Budget wherever one is taken (the
    parent of each alignment's allowance, a passthrough call's reservation), its counts in Redis."""

    def __init__(self, store: RedisStore, user: str, day: str, total: int, *, lease_s: float = D.REDIS_LEASE_S) -> None:
        super().__init__(total)
        self.store, self.user, self.day = store, user, day
        self._keys = [store.key("spend", user, day, "calls"), store.key("spend", user, day, "reserved")]
        self._lease_ms = int(1000 * lease_s)

    def _counts(self) -> tuple[int, int]:
        committed, reserved = self.store.run(COUNTS, self._keys, [])
        return int(committed), int(reserved)

    @property  # type: ignore[override]
    def used(self) -> int:
        return self._counts()[0]

    @property
    def reserved(self) -> int:
        return self._counts()[1]

    @property
    def remaining(self) -> int:
        committed, reserved = self._counts()
        return max(0, self.total - committed - reserved)

    def try_reserve(self) -> Reservation | None:
        member = uuid.uuid4().hex
        if not self.store.run(RESERVE, self._keys, [self.total, self._lease_ms, member, DAY_MS]):
            return None
        return Reservation(self, ticket=member)

    def reserve(self) -> Reservation:
        reservation = self.try_reserve()
        if reservation is None:
            raise BudgetExhausted(f"all {self.total} policy calls of {self.user!r}'s day are used or reserved")
        return reservation

    def settle(self, committed: bool, ticket: str | None = None) -> None:
        self.store.run(SETTLE, self._keys, [ticket or "", "1" if committed else "0", DAY_MS])

    def __repr__(self) -> str:
        return f"RedisBudget(user={self.user!r}, day={self.day!r}, total={self.total})"


class RedisDailyLimits(DailyLimits):
    """DailyLimits whose counts live in Redis: every replica sharing `redis` enforces one limit."""

    def __init__(self, store: ProfileStore, redis: RedisStore) -> None:
        super().__init__(store)
        self.redis = redis

    def _tokens_key(self, user: str, day: str) -> str:
        return self.redis.key("spend", user, day, "tokens")

    def budget_for(self, profile: Profile) -> RedisBudget | None:  # type: ignore[override]
        if profile.daily_calls is None and profile.daily_tokens is None:
            return None
        day = utc_day(self.clock())
        if profile.daily_tokens is not None:
            tokens = self.redis.run("return redis.call('GET', KEYS[1]) or '0'", [self._tokens_key(profile.user, day)], [])
            if int(tokens) >= profile.daily_tokens:
                raise self.exceeded(profile, f"its {profile.daily_tokens} tokens")
        if profile.daily_calls is None:
            return None
        budget = RedisBudget(self.redis, profile.user, day, profile.daily_calls)
        if budget.remaining < 1:
            raise self.exceeded(profile)
        return budget

    def hold_tokens(self, profile: Profile, tokens: int) -> Callable[[], None]:
        """As DailyLimits.hold_tokens, with the holds in Redis (a replica that dies holding some
        leaves them until the day's keys expire)."""
        limit = profile.daily_tokens
        if limit is None or tokens <= 0:
            return lambda: None
        day = utc_day(self.clock())
        keys = [self._tokens_key(profile.user, day), self.redis.key("spend", profile.user, day, "tokens_held")]
        member = uuid.uuid4().hex
        if not self.redis.run(HOLD_TOKENS, keys, [limit, tokens, member, DAY_MS]):
            raise self.exceeded(profile, f"its {limit} tokens (with those held by requests in flight, and {tokens} "
                                         "more asked for by this one)")
        return lambda: self.redis.run("return redis.call('HDEL', KEYS[1], ARGV[1])", keys[1:], [member])

    def record(self, user: str, calls: int, tokens: int) -> None:
        """The day's tokens go to Redis (the calls were counted there as they were committed); both go
        to the profiles file too, as the day's history."""
        if tokens:
            self.redis.run("redis.call('INCRBY', KEYS[1], ARGV[1]); redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1",
                           [self._tokens_key(user, utc_day(self.clock()))], [tokens, DAY_MS])
        super().record(user, calls, tokens)
