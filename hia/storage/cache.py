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
from typing import Iterable, Mapping

from hia.storage.sqlite import open_sqlite


def content_key(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


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
