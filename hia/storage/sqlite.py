"""SQLite files: opened with their schema in place, or refused with an error that names the option."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hia.errors import InputError


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
