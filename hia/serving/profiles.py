"""Personal goal profiles: a goal (and budget, method, daily spend limit) per user id, in SQLite.

The proxy and the wrapper look a profile up by the request's `user` field when the request
itself names no goal. A profile may cap the user's policy calls (and tokens) per UTC day; what
each user spent is recorded per day in the same file (hia.serving.spend enforces the cap).
`hia profiles set|show|list|delete` manages them.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hia import _defaults as D
from hia.core.budget import whole_calls
from hia.core.goal import Goal
from hia.errors import InputError
from hia.search import METHODS
from hia.storage.sqlite import open_sqlite


def default_profiles_path() -> Path:
    return Path(os.environ.get("HIA_PROFILES_DB", Path.home() / ".cache" / "hia" / "profiles.sqlite"))


@dataclass(frozen=True)
class Profile:
    user: str
    goal: str  # as text, e.g. "helpfulness=4,verbosity=1"
    budget: int = D.DEFAULT_BUDGET
    method: str = D.DEFAULT_METHOD
    updated: float = 0.0
    daily_calls: int | None = None  # policy calls per UTC day; None: no limit
    daily_tokens: int | None = None  # prompt + completion tokens per UTC day; None: no limit

    def request(self) -> dict:
        return {"goal": self.goal, "budget": self.budget, "method": self.method}


@dataclass(frozen=True)
class Spend:
    """What one user spent on one UTC day."""

    user: str
    day: str  # YYYY-MM-DD, UTC
    calls: int = 0
    tokens: int = 0


COLUMNS = "user, goal, budget, method, updated, daily_calls, daily_tokens"


def _limit(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{what} must be a whole number of at least 1 (or left out for no limit), got {value!r}")
    return value


class ProfileStore:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_profiles_path()
        self._lock = threading.Lock()
        self._db = open_sqlite(self.path, "CREATE TABLE IF NOT EXISTS profiles (user TEXT PRIMARY KEY, goal TEXT NOT "
                               "NULL, budget INTEGER NOT NULL, method TEXT NOT NULL, updated REAL NOT NULL)",
                               "profiles database (SQLite)", "--db")
        with self._lock:
            present = {row[1] for row in self._db.execute("PRAGMA table_info(profiles)")}
            for column in ("daily_calls", "daily_tokens"):  # files written before limits existed gain them
                if column not in present:
                    self._db.execute(f"ALTER TABLE profiles ADD COLUMN {column} INTEGER")
            self._db.execute("CREATE TABLE IF NOT EXISTS spend (user TEXT NOT NULL, day TEXT NOT NULL, calls INTEGER "
                             "NOT NULL, tokens INTEGER NOT NULL, PRIMARY KEY (user, day))")
            self._db.commit()

    def set(self, user: str, goal: str | Goal, *, budget: int = D.DEFAULT_BUDGET, method: str = D.DEFAULT_METHOD,
            daily_calls: int | None = None, daily_tokens: int | None = None) -> Profile:
        if not isinstance(user, str) or not user.strip():
            raise InputError("a profile needs a non-empty user id")
        goal_text = str(Goal.coerce(goal))  # validates
        budget = whole_calls(budget)  # the ceiling applies here too
        if method not in METHODS:
            raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        profile = Profile(user, goal_text, budget, method, time.time(), _limit(daily_calls, "daily_calls"),
                          _limit(daily_tokens, "daily_tokens"))
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO profiles ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (profile.user, profile.goal, profile.budget, profile.method, profile.updated,
                              profile.daily_calls, profile.daily_tokens))
            self._db.commit()
        return profile

    def get(self, user: str) -> Profile | None:
        with self._lock:
            row = self._db.execute(f"SELECT {COLUMNS} FROM profiles WHERE user = ?", (user,)).fetchone()
        return Profile(*row) if row else None

    def list(self) -> list[Profile]:
        with self._lock:
            rows = self._db.execute(f"SELECT {COLUMNS} FROM profiles ORDER BY user").fetchall()
        return [Profile(*row) for row in rows]

    def spent(self, user: str, day: str) -> Spend:
        with self._lock:
            row = self._db.execute("SELECT calls, tokens FROM spend WHERE user = ? AND day = ?", (user, day)).fetchone()
        return Spend(user, day, *(row or (0, 0)))

    def add_spend(self, user: str, day: str, calls: int, tokens: int) -> None:
        with self._lock:
            self._db.execute("INSERT INTO spend VALUES (?, ?, ?, ?) ON CONFLICT (user, day) DO UPDATE SET "
                             "calls = calls + excluded.calls, tokens = tokens + excluded.tokens",
                             (user, day, calls, tokens))
            self._db.commit()

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
