"""Personal goal profiles: a goal (and budget, method) per user id, stored in SQLite.

The proxy and the wrapper look a profile up by the request's `user` field when the request
itself names no goal. `hia profiles set|show|list|delete` manages them.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import _defaults as D
from .budget import whole_calls
from .cache import open_sqlite
from .errors import InputError
from .goal import Goal
from .search import METHODS


def default_profiles_path() -> Path:
    return Path(os.environ.get("HIA_PROFILES_DB", Path.home() / ".cache" / "hia" / "profiles.sqlite"))


@dataclass(frozen=True)
class Profile:
    user: str
    goal: str  # as text, e.g. "helpfulness=4,verbosity=1"
    budget: int = D.DEFAULT_BUDGET
    method: str = D.DEFAULT_METHOD
    updated: float = 0.0

    def request(self) -> dict:
        return {"goal": self.goal, "budget": self.budget, "method": self.method}


class ProfileStore:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_profiles_path()
        self._lock = threading.Lock()
        self._db = open_sqlite(self.path, "CREATE TABLE IF NOT EXISTS profiles (user TEXT PRIMARY KEY, goal TEXT NOT "
                               "NULL, budget INTEGER NOT NULL, method TEXT NOT NULL, updated REAL NOT NULL)",
                               "profiles database (SQLite)", "--db")

    def set(self, user: str, goal: str | Goal, *, budget: int = D.DEFAULT_BUDGET, method: str = D.DEFAULT_METHOD) -> Profile:
        if not isinstance(user, str) or not user.strip():
            raise InputError("a profile needs a non-empty user id")
        goal_text = str(Goal.coerce(goal))  # validates
        budget = whole_calls(budget)  # the ceiling applies here too
        if method not in METHODS:
            raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        profile = Profile(user, goal_text, budget, method, time.time())
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO profiles VALUES (?, ?, ?, ?, ?)",
                             (profile.user, profile.goal, profile.budget, profile.method, profile.updated))
            self._db.commit()
        return profile

    def get(self, user: str) -> Profile | None:
        with self._lock:
            row = self._db.execute("SELECT user, goal, budget, method, updated FROM profiles WHERE user = ?",
                                   (user,)).fetchone()
        return Profile(*row) if row else None

    def list(self) -> list[Profile]:
        with self._lock:
            rows = self._db.execute("SELECT user, goal, budget, method, updated FROM profiles ORDER BY user").fetchall()
        return [Profile(*row) for row in rows]

    def delete(self, user: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM profiles WHERE user = ?", (user,))
            self._db.commit()
        return cursor.rowcount > 0

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ProfileStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def profile_dict(profile: Profile) -> dict:
    return asdict(profile)
