"""The proxy's trace file (`hia serve --trace`): one JSON line per aligned request, bounded.

A record is the request's whole AlignmentResult (every candidate, answer and score, for `hia
export-pairs`), never a header or a key. Three bounds keep a client from filling the disk:
- `record_max_bytes`: a record larger than this keeps its scores and the chosen answer, not the
  other candidates' texts, and says `"truncated": true`; beyond even that, only its summary;
- `max_bytes`: the file is rotated past this size (`trace.jsonl` -> `trace.jsonl.1` -> ...),
  keeping `backups` old files;
- `texts=False` leaves the candidates' prompts and answers out of every record.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hia import _defaults as D
from hia.errors import InputError
from hia.storage.jsonl import JsonlWriter


@dataclass(frozen=True)
class TraceOptions:
    max_bytes: int = D.TRACE_MAX_BYTES
    backups: int = D.TRACE_BACKUPS
    record_max_bytes: int = D.TRACE_RECORD_MAX_BYTES
    texts: bool = True

    def __post_init__(self) -> None:
        for name in ("max_bytes", "record_max_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
                raise InputError(f"trace {name} must be a whole number of bytes, at least 1024, got {value!r}")
        if isinstance(self.backups, bool) or not isinstance(self.backups, int) or self.backups < 0:
            raise InputError(f"trace backups must be a whole number of at least 0, got {self.backups!r}")


def without_texts(record: dict[str, Any], keep_chosen: bool = True) -> dict[str, Any]:
    """The record with the candidates' prompts and answers left out (the chosen answer kept)."""
    result = dict(record.get("result") or {})
    chosen = result.get("chosen_id")
    candidates = []
    for candidate in result.get("candidates") or []:
        candidate = {k: v for k, v in candidate.items() if k != "prompt"}
        evaluation = candidate.get("evaluation")
        if evaluation and not (keep_chosen and candidate.get("id") == chosen):
            candidate["evaluation"] = {k: v for k, v in evaluation.items() if k != "response"}
        candidates.append(candidate)
    result["candidates"] = candidates
    for key in ("prompt", "chosen_prompt", "messages"):
        result.pop(key, None)
    return {**record, "result": result}


def bounded(record: dict[str, Any], options: TraceOptions) -> str:
    """The record's JSON line, within `options.record_max_bytes`."""
    if not options.texts:
        record = without_texts(record)
    line = json.dumps(record, ensure_ascii=False)
    if len(line.encode()) <= options.record_max_bytes:
        return line
    line = json.dumps({**without_texts(record), "truncated": True}, ensure_ascii=False)
    if len(line.encode()) <= options.record_max_bytes:
        return line
    result = record.get("result") or {}
    summary = {k: record[k] for k in ("id", "time", "user", "status", "error") if k in record}
    summary["result"] = {k: result.get(k) for k in ("goal", "method", "budget", "objective", "chosen_id", "usage")}
    return json.dumps({**summary, "truncated": True}, ensure_ascii=False)


class TraceWriter:
    """Appends bounded records to `path`, rotating it past `options.max_bytes`."""

    def __init__(self, path: Path, options: TraceOptions = TraceOptions()) -> None:
        self.path, self.options = Path(path), options
        self._writer = JsonlWriter(self.path)

    def write(self, record: dict[str, Any]) -> None:
        line = bounded(record, self.options)
        if self.path.exists() and self.path.stat().st_size + len(line.encode()) + 1 > self.options.max_bytes:
            self._rotate()
        self._writer.write_line(line)

    def _rotate(self) -> None:
        self._writer.close()
        for n in range(self.options.backups, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            newer = self.path.with_name(f"{self.path.name}.{n - 1}") if n > 1 else self.path
            if newer.exists():
                if n == self.options.backups:
                    older.unlink(missing_ok=True)
                os.replace(newer, older)
        if self.options.backups == 0:
            self.path.unlink(missing_ok=True)
        self._writer = JsonlWriter(self.path)

    def close(self) -> None:
        self._writer.close()
