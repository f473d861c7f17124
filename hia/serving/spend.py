"""Per-user daily spend limits, enforced with the same reservations as a Budget.

A profile may cap its user's policy calls per UTC day (`daily_calls`) and, optionally, tokens
(`daily_tokens`). Each user's calls left today are one shared Budget: every alignment for that
user draws its allowance from it, and a unit is reserved before each call is dispatched, so
concurrent requests at the limit never overspend it. What each alignment spent is added to the
profiles database when it ends, so a restart keeps the day's count.

Tokens are known only after a call returns, so each request holds the most it can spend before it
is sent (its calls times its max_tokens, plus its prompt's length; TOKEN_HOLD_* in hia._defaults)
and gives back the rest when its spend is recorded: requests in flight together never hold more
than the limit. The estimate of a prompt's tokens can be short by a few, so the day can end over
the limit by that much on the last request; a passthrough request with no max_tokens holds
TOKEN_HOLD_DEFAULT_ANSWER.

One process enforces the call limit exactly. Several processes sharing one profiles file each
start from the spend recorded when they first serve the user that day, so together they may
overspend by what the others spend meanwhile: run one proxy per profiles file.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, TypeVar

from hia.core.budget import Budget
from hia.errors import BudgetExhausted, HiaError
from hia.serving.profiles import Profile, ProfileStore

T = TypeVar("T")


class SpendLimitExceeded(HiaError):
    """A user has spent its daily limit; `resets_at` is when the next UTC day starts (epoch seconds)."""

    def __init__(self, message: str, *, resets_at: float) -> None:
        super().__init__(message)
        self.resets_at = resets_at


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d")


def next_utc_midnight(now: float) -> float:
    day = datetime.fromtimestamp(now, timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day + timedelta(days=1)).timestamp()


class DailyLimits:
    """The day's shared Budget per limited user, over a ProfileStore."""

    def __init__(self, store: ProfileStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._budgets: dict[tuple[str, str, int], Budget] = {}
        self._held: dict[tuple[str, str], int] = {}  # tokens set aside by requests in flight, per user and day
        self._lock = threading.Lock()

    def budget_for(self, profile: Profile) -> Budget | None:
        """The Budget the user's alignments draw from today, or None for a profile without a
        call limit. Raises SpendLimitExceeded when nothing is left."""
        if profile.daily_calls is None and profile.daily_tokens is None:
            return None
        now = self.clock()
        day = utc_day(now)
        spent = self.store.spent(profile.user, day)
        if profile.daily_tokens is not None and spent.tokens >= profile.daily_tokens:
            raise self.exceeded(profile, f"its {profile.daily_tokens} tokens")
        if profile.daily_calls is None:
            return None
        key = (profile.user, day, profile.daily_calls)  # a changed limit starts a new count from what was spent
        with self._lock:
            for old in [k for k in self._budgets if k[1] != day or (k[0] == profile.user and k != key)]:
                del self._budgets[old]  # past days, and this user's count under an older limit
            budget = self._budgets.get(key)
            if budget is None:
                left = profile.daily_calls - spent.calls
                if left < 1:
                    raise self.exceeded(profile)
                budget = self._budgets[key] = Budget(left)
        if budget.remaining < 1:
            raise self.exceeded(profile)
        return budget

    def hold_tokens(self, profile: Profile, tokens: int) -> Callable[[], None]:
        """Set aside `tokens` of the user's day for a request about to be sent (the most it can
        spend), or raise SpendLimitExceeded when they do not fit; returns the release, called once
        the request's real spend is recorded."""
        limit = profile.daily_tokens
        if limit is None or tokens <= 0:
            return lambda: None
        key = (profile.user, utc_day(self.clock()))
        with self._lock:
            held = self._held.get(key, 0)
            if self.store.spent(profile.user, key[1]).tokens + held + tokens > limit:
                raise self.exceeded(profile, f"its {limit} tokens ({held} held by requests in flight, {tokens} more "
                                             "asked for by this one)")
            self._held[key] = held + tokens

        def release() -> None:
            with self._lock:
                self._held[key] = self._held.get(key, 0) - tokens

        return release

    def record(self, user: str, calls: int, tokens: int) -> None:
        """Add what one alignment spent to the user's day."""
        if calls or tokens:
            self.store.add_spend(user, utc_day(self.clock()), calls, tokens)

    def exceeded(self, profile: Profile, what: str | None = None) -> SpendLimitExceeded:
        """The error for a user with nothing left today (by default: its policy calls)."""
        now = self.clock()
        day, resets_at = utc_day(now), next_utc_midnight(now)
        what = what or f"its {profile.daily_calls} policy calls"
        when = datetime.fromtimestamp(resets_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return SpendLimitExceeded(f"user {profile.user!r} has spent {what} for {day} (UTC); the limit resets at {when}, "
                                 f"in {int(resets_at - now)} s (raise it with hia profiles set --daily-calls or --daily-tokens)",
                                 resets_at=resets_at)


@dataclass
class UserSpend:
    """One request's view of its user's limit: the day's Budget (None with a token limit only),
    and where to record what the request spent."""

    profile: Profile
    budget: Budget | None
    limits: DailyLimits

    @staticmethod
    def budget_of(spend: "UserSpend | None", requested: int) -> dict[str, Any]:
        """align()'s budget arguments: the request's own budget, or that many calls drawn from the user's day."""
        if spend is None or spend.budget is None:
            return {"budget": requested}
        return {"budget": spend.budget, "allowance": requested}

    @staticmethod
    @contextmanager
    def alignment(spend: "UserSpend | None", tokens: int = 0) -> Iterator[Callable[[T], T]]:
        """Records what an alignment spent, whether it returned or failed with its paid work
        attached; a day used up by concurrent requests is reported as SpendLimitExceeded. With a
        token limit, `tokens` (the most the alignment can spend) are held from the day until then."""
        if spend is None:
            yield lambda result: result
            return
        release = spend.limits.hold_tokens(spend.profile, tokens)

        def paid(result: T) -> T:
            spend._record(getattr(result, "usage", None))
            return result

        try:
            yield paid
        except HiaError as exc:
            if exc.result is not None:
                spend._record(exc.result.usage)
            if isinstance(exc, BudgetExhausted) and spend.budget is not None and spend.budget.remaining < 1:
                raise spend.limits.exceeded(spend.profile) from exc
            raise
        finally:
            release()

    @staticmethod
    @contextmanager
    def passthrough(spend: "UserSpend | None", tokens: int = 0) -> Iterator[Callable[[T], T]]:
        """One call passed to the upstream unchanged: it takes a unit of the user's day too, and
        holds `tokens` of it as an alignment does."""
        if spend is None:
            yield lambda reply: reply
            return
        reservation = spend.budget.try_reserve() if spend.budget is not None else None
        if spend.budget is not None and reservation is None:
            raise spend.limits.exceeded(spend.profile)
        try:
            release = spend.limits.hold_tokens(spend.profile, tokens)
        except SpendLimitExceeded:
            if reservation is not None:
                reservation.release()
            raise

        def paid(reply: T) -> T:
            if reservation is not None:
                reservation.commit()
            usage = getattr(reply, "usage", None)
            spend.limits.record(spend.profile.user, 1, getattr(usage, "total_tokens", 0) or 0)
            return reply

        try:
            yield paid
        finally:
            release()
            if reservation is not None:
                reservation.release()  # no-op once committed

    def _record(self, usage: Any) -> None:
        if usage is not None:
            self.limits.record(self.profile.user, usage.policy_calls, usage.prompt_tokens + usage.completion_tokens)
