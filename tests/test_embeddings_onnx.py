"""The packaged MiniLM on int8 ONNX gives the torch model's vectors, is checked before it runs,
and never shares cached vectors with torch."""

import numpy as np
import pytest

from hia import InputError, LocalModelsUnavailable
from hia.models import embeddings
from hia.models.embeddings import Embedder

TEXTS = ["How do I keep basil alive indoors?", "Answer in one short sentence.",
         "Explain TCP slow start to a network engineer, in depth.", "Use plain, everyday words.", "",
         "Basil wants six hours of sun, well-drained soil and water when the top inch is dry."]


def test_onnx_vectors_match_torch_ones():
    onnx, torch = Embedder(), Embedder(backend="torch")
    assert onnx.backend == "onnx" and torch.backend == "torch"
    a, b = onnx.embed(TEXTS), torch.embed(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(1).min() >= 0.99
    assert np.abs(a @ a.T - b @ b.T).max() <= 0.02  # the filters' thresholds read similarities
    assert onnx.model_name != torch.model_name  # cached under different names


def test_a_model_file_that_is_not_the_published_one_is_refused(monkeypatch):
    monkeypatch.setattr(embeddings, "ONNX_SHA256", "0" * 64)
    with pytest.raises(LocalModelsUnavailable, match="sha256"):
        Embedder().embed(["basil"])


def test_unknown_backends_and_onnx_for_other_models_are_refused():
    with pytest.raises(InputError, match="backend"):
        Embedder(backend="tensorflow")
    with pytest.raises(InputError, match="packaged"):
        Embedder("sentence-transformers/all-mpnet-base-v2", backend="onnx")
