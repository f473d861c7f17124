"""JSON lines: the one reader of JSONL files, and the append-only writer whose lines survive a
kill (batch outputs, proxy traces, the answer journal)."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from hia.errors import InputError


@dataclass(frozen=True)
class JsonLine:
    """One non-blank line: its value, or why it is not JSON (`error`). `last` marks the file's last
    line, where a torn line is what a killed writer leaves, not damage."""

    number: int
    value: Any
    error: str | None
    last: bool


def read_jsonl(path: str | Path) -> Iterator[JsonLine]:
    """Every non-blank line of `path`. A line that is not UTF-8, not JSON or nested too deep comes
    back with its `error`; no line raises."""
    lines = Path(path).read_bytes().split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        last = number == len(lines)
        try:
            yield JsonLine(number, json.loads(raw.decode("utf-8")), None, last)
        except UnicodeDecodeError as exc:
            yield JsonLine(number, None, f"not UTF-8 text (byte {exc.start} cannot be decoded)", last)
        except json.JSONDecodeError as exc:
            yield JsonLine(number, None, f"not valid JSON ({exc.msg})", last)
        except RecursionError:
            yield JsonLine(number, None, "nested too deep to read", last)


def check_not_an_input(out: str | Path, inputs: Iterable[str | Path], option: str = "--out") -> None:
    """Refuse an output file that is one of the inputs (the same file, by inode, whatever the path
    says): writing it would destroy what is being read, paid results among it."""
    out = Path(out)
    if not out.exists():
        return
    for given in inputs:
        given = Path(given)
        if given.exists() and os.path.samefile(out, given):
            raise InputError(f"{option} {out} is the input {given}; writing it would destroy what is read from it. "
                             "Give another output file")


def _lock(path: Path) -> Any:
    """Take the output's advisory lock, or raise InputError naming the process that holds it."""
    import fcntl

    handle = open(path.with_name(path.name + ".lock"), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise InputError(f"another run (process {holder}) is writing {path}; wait for it to finish, or give this "
                         "run another output file") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class JsonlWriter:
    """Appends one JSON line per record and flushes it to the OS at once, so a killed process
    loses nothing written; `fsync=True` also forces it to disk (safe from a machine crash too,
    at a few milliseconds per record).

    With `exclusive` (the default) it holds an advisory lock (`<output>.lock`) while it writes: a
    second run on the same output is refused, since it would pay again for the items the first one
    is working on."""

    def __init__(self, path: Path, fsync: bool = False, *, exclusive: bool = True) -> None:
        self._fsync = fsync
        if path.is_dir():
            raise InputError(f"output {path} is a folder; give a file path for the JSONL records")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock(path) if exclusive else None
        # A kill in mid-write can leave a torn last line; start on a fresh line after it.
        if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with path.open("ab") as f:
                f.write(b"\n")
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, record: dict) -> None:
        self.write_line(json.dumps(record, ensure_ascii=False))

    def write_line(self, line: str) -> None:
        """One record already written as JSON (without the newline)."""
        line += "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the lock
