"""Reading records from local jsonl/json/parquet files or a dataset hub, with row validation."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, TypeVar

from hia.errors import DataError
from hia.storage.jsonl import read_jsonl

T = TypeVar("T")


@dataclass
class Loaded(Generic[T]):
    """Rows that passed validation, and a note per row that was skipped (when skipping was asked)."""

    rows: list[T]
    source: str
    skipped: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[T]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def is_local(source: str | Path) -> bool:
    text = str(source)
    return Path(text).exists() or text.endswith((".jsonl", ".json", ".parquet")) or text.startswith((".", "/", "~"))


def read_local(path: str | Path) -> Iterator[tuple[str, Any]]:
    """(location, record) pairs; the location is 'file:line' for jsonl and 'file:record N' otherwise."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        yield from _records(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded); is it the right file?") from None


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for line in read_jsonl(path):
            where = f"{path}:{line.number}"
            yield where, (line.value if line.error is None else DataError(f"{where}: {line.error}"))
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if isinstance(data, dict):
            data = next((v for k, v in data.items() if k in ("data", "rows", "train") and isinstance(v, list)), None)
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of records (or an object with a 'data' list)")
        for number, record in enumerate(data, 1):
            yield f"{path}:record {number}", record
    elif suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(f"{path}: reading parquet needs pyarrow; pip install pyarrow") from None
        try:
            table = pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow's own errors (ArrowInvalid, OSError) vary by version
            raise DataError(f"{path}: not a readable parquet file ({type(exc).__name__}: {exc})") from None
        for number, record in enumerate(table.to_pylist(), 1):
            yield f"{path}:record {number}", record
    else:
        raise DataError(f"{path}: unknown file type {suffix!r}; use .jsonl, .json or .parquet")


def read_hub(name: str, config: str | None, split: str) -> Iterator[tuple[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise DataError(f"loading {name!r} from the hub needs the datasets library; pip install datasets, "
                        "or pass a local .jsonl/.json/.parquet file") from None
    try:
        dataset = datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # the hub raises many kinds; the message says which
        raise DataError(f"could not load {name!r} (config {config!r}, split {split!r}) from the hub: {exc}") from None
    for number, record in enumerate(dataset, 1):
        yield f"{name}/{config or ''}/{split}:row {number}", record


def collect(records: Iterator[tuple[str, Any]], convert: Callable[[str, dict], T | list[T]], source: str,
            skip_invalid: bool) -> Loaded[T]:
    """Convert each record, failing on the first bad one, or skipping and noting it."""
    loaded: Loaded[T] = Loaded(rows=[], source=source)
    for where, record in records:
        try:
            if isinstance(record, DataError):
                raise record
            if not isinstance(record, dict):
                raise DataError(f"{where}: expected an object, got {type(record).__name__}")
            out = convert(where, record)
        except DataError as exc:
            if not skip_invalid:
                raise
            loaded.skipped.append(str(exc))
            continue
        loaded.rows.extend(out if isinstance(out, list) else [out])
    if not loaded.rows:
        skipped = f" ({len(loaded.skipped)} malformed rows skipped)" if loaded.skipped else ""
        raise DataError(f"{source}: no usable rows{skipped}; is it the right file?")
    return loaded


def text_field(where: str, record: dict, name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise DataError(f"{where}: field {name!r} is missing or not text")
    if not value.strip():
        raise DataError(f"{where}: field {name!r} is empty")
    return value


def number_field(where: str, record: dict, name: str, low: float | None = None, high: float | None = None) -> float:
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{where}: field {name!r} is missing or not a number (got {value!r})")
    if not math.isfinite(value):
        raise DataError(f"{where}: field {name!r} is not finite")
    if (low is not None and value < low) or (high is not None and value > high):
        raise DataError(f"{where}: field {name!r} is {value}, outside {low:g}..{high:g}")
    return float(value)
