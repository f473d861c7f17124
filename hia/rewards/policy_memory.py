"""What the shipped heuristic has learned about one policy (an endpoint and a model), kept so that
`hia align`, batches, the wrapper and the proxy share it and it survives restarts.

It holds sufficient statistics of the heuristic's Bayesian model per attribute (X'X, X'y and a
count): a few hundred numbers, whatever the traffic, and never a prompt or an answer. Each update
is merged into the file under a lock, so processes that share a policy add to each other's
evidence. Past POLICY_MEMORY_MAX_EVIDENCE answers, the statistics are scaled down as new ones
arrive, so old evidence fades and a policy that changes is followed.
"""

from __future__ import annotations

import atexit
import hashlib
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from hia import _defaults as D
from hia.errors import InputError, RewardModelError
from hia.storage.state import read_state, update_state

FORMAT = "hia.policy_memory"
VERSION = 1


def policy_key(base_url: str, model: str) -> str:
    """Who a policy is: its URL and model. A server on this machine is known by its model alone,
    since local servers (the embedded ones among them) start on a new free port each time."""
    parts = urlsplit(base_url)
    if parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return f"local {model}"
    return f"{base_url} {model}"


def memory_file(folder: str | Path, key: str) -> Path:
    """The file for one policy in `folder`: named by a hash of its key."""
    return Path(folder) / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


class PolicyMemory:
    """The statistics, in this process, and in `path` when one is given."""

    def __init__(self, path: str | Path | None, *, policy: str = "", max_evidence: int = D.POLICY_MEMORY_MAX_EVIDENCE):
        self.path = Path(path) if path is not None else None
        self.policy = policy  # the public URL and model, for a reader of the file
        self.max_evidence = max_evidence
        self._lock = threading.Lock()
        self._totals: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, dict[str, Any]] = {}  # learned here and not yet in the file
        self._flushed = float("-inf")  # when the file was last written (time.monotonic)
        if self.path is not None:
            atexit.register(self.flush)
            try:
                self._totals = self._parse(read_state(self.path))
            except InputError as exc:
                raise RewardModelError(f"the policy memory {exc}") from None

    def _parse(self, data: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
        if data is None:
            return {}
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise RewardModelError(f"{self.path} is not a hia policy memory of version {VERSION}; delete it to start "
                                   "afresh")
        try:
            return {str(name): {"xtx": np.array(s["xtx"], float), "xty": np.array(s["xty"], float), "n": int(s["n"])}
                    for name, s in data["attributes"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RewardModelError(f"{self.path}: a damaged policy memory ({exc}); delete it to start afresh") from None

    def statistics(self, attribute: str, features: int) -> tuple[np.ndarray, np.ndarray]:
        """X'X and X'y of everything learned about `attribute` (zeros when nothing is)."""
        with self._lock:
            found = self._totals.get(attribute)
            if found is None or found["xtx"].shape != (features, features):
                return np.zeros((features, features)), np.zeros(features)
            return found["xtx"].copy(), found["xty"].copy()

    def evidence(self, attribute: str) -> int:
        with self._lock:
            return int(self._totals.get(attribute, {}).get("n", 0))

    def add(self, attribute: str, xtx: np.ndarray, xty: np.ndarray, n: int) -> None:
        """Add one batch of answers' statistics: here at once, in the file at the next flush."""
        delta = {attribute: {"xtx": np.asarray(xtx, float), "xty": np.asarray(xty, float), "n": int(n)}}
        with self._lock:
            self._totals = self._merged(self._totals, delta)
            if self.path is None:
                return
            self._pending = self._merged(self._pending, delta)
            due = time.monotonic() - self._flushed >= D.POLICY_MEMORY_FLUSH_S
        if due:
            self.flush()

    def flush(self) -> None:
        """Merge what was learned here into the file, and take in what other processes added."""
        with self._lock:
            if self.path is None or not self._pending:
                return
            pending, self._pending = self._pending, {}
            written = update_state(self.path, lambda current: self._document(self._merged(self._parse(current), pending)))
            self._totals = self._parse(written)
            self._flushed = time.monotonic()

    def _merged(self, totals: dict[str, dict[str, Any]], delta: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out = dict(totals)
        for name, new in delta.items():
            old = out.get(name)
            if old is not None and old["xtx"].shape == new["xtx"].shape:
                merged = {"xtx": old["xtx"] + new["xtx"], "xty": old["xty"] + new["xty"], "n": old["n"] + new["n"]}
            else:
                merged = dict(new)
            if merged["n"] > self.max_evidence:  # old evidence fades: the statistics of the newest max_evidence answers' worth
                share = self.max_evidence / merged["n"]
                merged = {"xtx": merged["xtx"] * share, "xty": merged["xty"] * share, "n": self.max_evidence}
            out[name] = merged
        return out

    def _document(self, totals: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "policy": self.policy, "updated": round(time.time(), 3),
                "attributes": {name: {"xtx": s["xtx"].round(6).tolist(), "xty": s["xty"].round(6).tolist(), "n": s["n"]}
                               for name, s in totals.items()}}
