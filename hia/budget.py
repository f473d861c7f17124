"""Budget: a hard cap on response-policy calls.

A unit is reserved before a call is dispatched, so concurrent work can never overspend. A call
that returned an answer commits its unit; a call that failed for good releases it. Transport
retries of one call happen inside one reservation and cost no extra unit.

The lock is a threading.Lock held only for a few arithmetic operations and never across an
await, so one Budget is safe to share between threads and asyncio tasks at once.
"""

from __future__ import annotations

import threading
from types import TracebackType

from .errors import BudgetExhausted, InputError


class Budget:
    def __init__(self, calls: int) -> None:
        if isinstance(calls, bool) or not isinstance(calls, int):
            raise InputError(f"budget must be a whole number of policy calls, got {calls!r}")
        if calls < 1:
            raise InputError(f"budget must be at least 1 policy call, got {calls}")
        self.total = calls
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
        """Units neither used nor reserved."""
        with self._lock:
            return self.total - self._used - self._reserved

    def try_reserve(self) -> "Reservation | None":
        """Reserve one unit, or return None when none is left."""
        with self._lock:
            if self._used + self._reserved >= self.total:
                return None
            self._reserved += 1
        return Reservation(self)

    def reserve(self) -> "Reservation":
        """Reserve one unit or raise BudgetExhausted."""
        reservation = self.try_reserve()
        if reservation is None:
            raise BudgetExhausted(f"all {self.total} policy calls of the budget are used or reserved")
        return reservation

    def _settle(self, committed: bool) -> None:
        with self._lock:
            self._reserved -= 1
            if committed:
                self._used += 1

    def __repr__(self) -> str:
        return f"Budget(total={self.total}, used={self._used}, reserved={self._reserved})"


class Reservation:
    """One reserved unit. Commit it when the call returned an answer; otherwise it is released."""

    __slots__ = ("_budget", "_settled")

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self._settled = False

    def commit(self) -> None:
        self._finish(committed=True)

    def release(self) -> None:
        self._finish(committed=False)

    def _finish(self, committed: bool) -> None:
        if self._settled:
            return
        self._settled = True
        self._budget._settle(committed)

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()  # no-op after commit()
