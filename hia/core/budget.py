"""Budget: a hard cap on response-policy calls.

A unit is reserved before a call is dispatched, so concurrent work can never overspend. A call
that returned an answer commits its unit; a call that failed for good releases it. Transport
retries of one call happen inside one reservation and cost no extra unit.

The lock is a threading.Lock held only for a few arithmetic operations and never across an
await, so one Budget is safe to share between threads and asyncio tasks at once.

A Budget with a `parent` is an allowance drawn from a shared budget: each unit is reserved from
both, so one alignment cannot take more than its allowance, and all of them together cannot take
more than the shared total.
"""

from __future__ import annotations

import math
import threading
from types import TracebackType

from hia import _defaults as D
from hia.errors import BudgetExhausted, InputError


def whole_calls(value: object, *, ceiling: int | None = D.MAX_BUDGET, what: str = "budget") -> int:
    """`value` as a whole number of policy calls from 1 to `ceiling`, or an InputError that says why.

    Takes ints, integral floats and digit strings (a header, a JSON body); refuses fractions,
    infinities, NaN, booleans and anything over the ceiling."""
    if isinstance(value, bool) or value is None:
        raise InputError(f"{what} must be a whole number of policy calls, got {value!r}")
    number: float
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{what} must be a whole number of policy calls, got {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise InputError(f"{what} must be a whole number of policy calls, got {value!r} (fractions are not rounded)")
    calls = int(number)
    if calls < 1:
        raise InputError(f"{what} must be at least 1 policy call, got {calls}")
    if ceiling is not None and calls > ceiling:
        raise InputError(f"{what} of {calls} policy calls is over the ceiling of {ceiling} per alignment; raise it "
                         "with max_budget= (hia align/serve --max-budget) if you mean to spend that much")
    return calls


class Budget:
    def __init__(self, calls: int, *, parent: "Budget | None" = None) -> None:
        if isinstance(calls, bool) or not isinstance(calls, int):
            raise InputError(f"budget must be a whole number of policy calls, got {calls!r}")
        if calls < 1:
            raise InputError(f"budget must be at least 1 policy call, got {calls}")
        self.total = calls
        self.parent = parent
        self._used = 0
        self._reserved = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    @property
    def reserved(self) -> int:
        return self._reserved

    @property
    def remaining(self) -> int:
        """Units neither used nor reserved (here, and in the parent budget)."""
        with self._lock:
            own = self.total - self._used - self._reserved
        return own if self.parent is None else min(own, self.parent.remaining)

    def try_reserve(self) -> "Reservation | None":
        """Reserve one unit (from the parent too), or return None when none is left."""
        upstream = None
        if self.parent is not None:
            upstream = self.parent.try_reserve()
            if upstream is None:
                return None
        with self._lock:
            if self._used + self._reserved >= self.total:
                if upstream is not None:
                    upstream.release()
                return None
            self._reserved += 1
        return Reservation(self, upstream)

    def reserve(self) -> "Reservation":
        """Reserve one unit or raise BudgetExhausted."""
        reservation = self.try_reserve()
        if reservation is None:
            raise BudgetExhausted(f"all {self.total} policy calls of the budget are used or reserved")
        return reservation

    def settle(self, committed: bool, ticket: str | None = None) -> None:
        """End one reservation (Reservation calls this): used when `committed`, else freed."""
        with self._lock:
            self._reserved -= 1
            if committed:
                self._used += 1

    def __repr__(self) -> str:
        return f"Budget(total={self.total}, used={self._used}, reserved={self._reserved})"


class Reservation:
    """One reserved unit. Commit it when the call returned an answer; otherwise it is released."""

    __slots__ = ("_budget", "_settled", "_ticket", "_upstream")

    def __init__(self, budget: Budget, upstream: "Reservation | None" = None, ticket: str | None = None) -> None:
        self._budget = budget  # or any budget with settle(committed, ticket), such as a RedisBudget
        self._upstream = upstream  # the same unit, in the parent budget
        self._ticket = ticket  # which unit, for a budget kept elsewhere
        self._settled = False

    def commit(self) -> None:
        self._finish(committed=True)

    def release(self) -> None:
        self._finish(committed=False)

    def _finish(self, committed: bool) -> None:
        if self._settled:
            return
        self._settled = True
        self._budget.settle(committed, self._ticket)
        if self._upstream is not None:
            self._upstream._finish(committed)

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()  # no-op after commit()
