"""A small JSON state file that several processes update: each update is read, merged and
replaced under an advisory lock, so concurrent writers add to each other instead of overwriting."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from hia.errors import InputError


def read_state(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when there is no file yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{path} is not a readable state file ({exc}); delete it to start afresh") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a state file (a JSON object); delete it to start afresh")
    return data


def update_state(path: Path, merge: Callable[[dict[str, Any] | None], dict[str, Any]]) -> dict[str, Any]:
    """Replace the state in `path` by `merge(current)`, atomically and under `<path>.lock`."""
    import fcntl

    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file path for the state")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = merge(read_state(path))
        scratch = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        scratch.write_text(json.dumps(merged), encoding="utf-8")
        os.replace(scratch, path)  # readers see the old file or the new one, never half of one
    return merged
