"""Usage: what an alignment cost, by role (policy, optimizer, judge) and by stage."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from hia.core.tracing import span

ROLES = ("policy", "optimizer", "judge")
STAGES = ("optimize", "filter", "policy", "reward")


@dataclass
class RoleUsage:
    calls: int = 0  # calls that returned an answer
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0  # transport retries, not counted in `calls`
    failures: int = 0  # calls that failed for good
    malformed: int = 0  # attempts answered 200 with an unreadable body: retried at no cost to the budget,
    # but a provider may bill them, so they are counted and shown beside it


@dataclass
class Usage:
    """Counters shared by every component of one alignment; safe across threads and tasks."""

    roles: dict[str, RoleUsage] = field(default_factory=lambda: {r: RoleUsage() for r in ROLES})
    stage_seconds: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    wall_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    # A Usage crosses processes with its result (Ray workers send results back): the lock stays behind.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def record_call(self, role: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        with self._lock:
            usage = self.roles.setdefault(role, RoleUsage())
            usage.calls += 1
            usage.prompt_tokens += prompt_tokens
            usage.completion_tokens += completion_tokens

    def record_retry(self, role: str) -> None:
        with self._lock:
            self.roles.setdefault(role, RoleUsage()).retries += 1

    def record_malformed(self, role: str) -> None:
        with self._lock:
            self.roles.setdefault(role, RoleUsage()).malformed += 1

    def record_failure(self, role: str) -> None:
        with self._lock:
            self.roles.setdefault(role, RoleUsage()).failures += 1

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            with span(f"hia.stage.{name}"):
                yield
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + elapsed

    @property
    def policy_calls(self) -> int:
        return self.roles["policy"].calls

    @property
    def optimizer_calls(self) -> int:
        return self.roles["optimizer"].calls

    @property
    def prompt_tokens(self) -> int:
        return sum(u.prompt_tokens for u in self.roles.values())

    @property
    def completion_tokens(self) -> int:
        return sum(u.completion_tokens for u in self.roles.values())

    @property
    def retries(self) -> int:
        return sum(u.retries for u in self.roles.values())

    @property
    def malformed(self) -> int:
        return sum(u.malformed for u in self.roles.values())

    def to_dict(self) -> dict:
        return {
            "policy_calls": self.policy_calls,
            "optimizer_calls": self.optimizer_calls,
            "judge_calls": self.roles["judge"].calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "retries": self.retries,
            "malformed_replies": self.malformed,  # may be billed by the provider; not counted in the budget
            "by_role": {role: vars(u).copy() for role, u in self.roles.items()},
            "stage_seconds": {k: round(v, 4) for k, v in self.stage_seconds.items()},
            "wall_seconds": round(self.wall_seconds, 4),
        }
