"""A content-addressed cache: in memory within a run, optionally in a SQLite file across runs.

Keys are sha256 hashes of what was computed (model id and input texts), so the same text is
never embedded or judged twice. Only texts' hashes and numbers are stored: never a key or header.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .errors import InputError
from .rewards.base import ReferenceRewardModel
from .usage import Usage


def content_key(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def open_sqlite(path: Path, schema: str, what: str, option: str) -> sqlite3.Connection:
    """A SQLite file with `schema` in place, or an InputError naming the file and the option to change."""
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder; give a file path for the {what}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False)
        db.execute(schema)
        db.commit()
    except (sqlite3.DatabaseError, OSError) as exc:
        raise InputError(f"{option} {path} cannot be used as the {what} ({exc}); give another file") from None
    return db


class Cache:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._memory: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self._db = open_sqlite(self.path, "CREATE TABLE IF NOT EXISTS entries (namespace TEXT, key TEXT, "
                                   "value BLOB, PRIMARY KEY (namespace, key))", "cache (SQLite)", "--cache-file")
            self._db.execute("PRAGMA journal_mode=WAL")

    def get_many(self, namespace: str, keys: Iterable[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        missing = []
        with self._lock:
            for key in keys:
                value = self._memory.get((namespace, key))
                if value is None:
                    missing.append(key)
                else:
                    found[key] = value
            if missing and self._db is not None:
                for start in range(0, len(missing), 500):
                    chunk = missing[start:start + 500]
                    rows = self._db.execute(
                        f"SELECT key, value FROM entries WHERE namespace = ? AND key IN ({','.join('?' * len(chunk))})",
                        [namespace, *chunk]).fetchall()
                    for key, value in rows:
                        found[key] = value
                        self._memory[(namespace, key)] = value
        return found

    def put_many(self, namespace: str, items: Mapping[str, bytes]) -> None:
        with self._lock:
            for key, value in items.items():
                self._memory[(namespace, key)] = value
            if self._db is not None and items:
                self._db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)",
                                     [(namespace, k, v) for k, v in items.items()])
                self._db.commit()

    def __len__(self) -> int:
        return len(self._memory)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class CachedReference(ReferenceRewardModel):
    """Wraps a reference model so each (prompt, response, attribute) is scored once."""

    def __init__(self, inner: ReferenceRewardModel, cache: Cache, model_id: str) -> None:
        self.inner = inner
        self.cache = cache
        self.namespace = f"reference:{model_id}"

    def _plan(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str]):
        keys = [[content_key(p, r, a) for a in attributes] for p, r in zip(prompts, responses)]
        found = self.cache.get_many(self.namespace, [k for row in keys for k in row])
        todo = [i for i, row in enumerate(keys) if any(k not in found for k in row)]
        return keys, found, todo

    def _finish(self, keys, found, todo, fresh: np.ndarray, n_attributes: int) -> np.ndarray:
        new = {keys[i][j]: float(fresh[t, j]).hex().encode() for t, i in enumerate(todo) for j in range(n_attributes)}
        self.cache.put_many(self.namespace, new)
        found = {**found, **new}
        return np.array([[float.fromhex(found[k].decode()) for k in row] for row in keys]).reshape(len(keys), n_attributes)

    def score(self, prompts, responses, attributes, *, usage: Usage | None = None) -> np.ndarray:
        keys, found, todo = self._plan(prompts, responses, attributes)
        fresh = self.inner.score([prompts[i] for i in todo], [responses[i] for i in todo], attributes, usage=usage) \
            if todo else np.zeros((0, len(attributes)))
        return self._finish(keys, found, todo, np.asarray(fresh, dtype=float), len(attributes))

    def agreement(self, attribute: str) -> float | None:
        return self.inner.agreement(attribute)

    def __getattr__(self, name: str) -> object:
        if name == "inner":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)  # the wrapped model's own fields (attributes, metadata, ...)

    async def ascore(self, prompts, responses, attributes, *, usage: Usage | None = None) -> np.ndarray:
        keys, found, todo = self._plan(prompts, responses, attributes)
        fresh = await self.inner.ascore([prompts[i] for i in todo], [responses[i] for i in todo], attributes,
                                        usage=usage) if todo else np.zeros((0, len(attributes)))
        return self._finish(keys, found, todo, np.asarray(fresh, dtype=float), len(attributes))
