"""A fixed split of any prompt set into development and evaluation prompts, by a hash of the text.

Whatever is tuned or fitted on prompts (calibrating a heuristic, choosing the embedded optimizer)
uses development prompts only; the quality benchmarks evaluate on the rest. The split depends
only on each prompt's text, so it is the same on any file, any subset and any machine.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from hia import _defaults as D


def prompt_id(prompt: str) -> str:
    """A short stable id for a prompt: the first 16 hex digits of its sha256."""
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


def is_dev_prompt(prompt: str) -> bool:
    """One prompt in DEV_SPLIT_EVERY is a development prompt."""
    return int(prompt_id(prompt)[:8], 16) % D.DEV_SPLIT_EVERY == 0


def split_prompts(prompts: Iterable[str], part: str) -> list[str]:
    """The distinct prompts of one part ("dev" or "eval"), sorted."""
    if part not in ("dev", "eval"):
        raise ValueError(f"part must be 'dev' or 'eval', got {part!r}")
    return sorted({p for p in prompts if is_dev_prompt(p) == (part == "dev")})
