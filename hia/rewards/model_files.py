"""Model files: the JSON that trained reward models and heuristics are saved as, written and read
in one place, so every loader refuses a missing, unreadable or foreign file the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hia.errors import InputError, RewardModelError


def model_file(path: str | Path) -> Path:
    """Where to save a model: a file path (its folder is made), never an existing folder."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--out {path} is a folder; give a file path for the model, e.g. {path / 'model.json'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_model_file(path: str | Path, data: dict[str, Any]) -> Path:
    path = model_file(path)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def read_model_file(path: str | Path, *, what: str, format: str, remedy: str,
                    versions: dict[str, int] | None = None) -> dict[str, Any]:
    """The JSON object in `path`, checked to be a `format` file with the `versions` this hia reads
    (by field: {"version": 1}); otherwise a RewardModelError naming the file and `remedy`."""
    path = Path(path)
    if path.is_dir():
        raise RewardModelError(f"{path} is a folder, not a {what} file; give the file's path")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RewardModelError(f"{path}: no such {what} file; {remedy}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RewardModelError(f"{path}: not a hia {what} (unreadable JSON: {exc}); {remedy}") from None
    found = data.get("format") if isinstance(data, dict) else None
    if found != format:
        raise RewardModelError(f"{path}: not a hia {what} (format {found!r}, expected {format!r}); {remedy}")
    for field, version in (versions or {}).items():
        if data.get(field) != version:
            label = field.replace("_", " ")
            raise RewardModelError(f"{path}: a hia {what} made with {label} {data.get(field)!r}; this hia reads "
                                   f"{label} {version}: {remedy}")
    return data
