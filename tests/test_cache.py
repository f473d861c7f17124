import asyncio

import numpy as np

from hia.models.embeddings import Embedder
from hia.rewards.cached import CachedReference
from hia.storage.cache import Cache

from .fakes import LengthReference, PerAttributeReference


def test_reference_scores_are_computed_once_per_text_and_attribute():
    inner = PerAttributeReference()
    cached = CachedReference(inner, Cache(), "per-attribute")
    long_answer, short_answer = "one two three four " * 5, "a b"
    a = cached.score(["q", "q"], [long_answer, short_answer], ["verbosity", "helpfulness"])
    b = cached.score(["q", "q"], [short_answer, long_answer], ["helpfulness", "verbosity"])
    assert inner.calls == 1
    # each column holds its own attribute's score, for the right answer, whichever order was asked for
    assert np.allclose(a, [[2.0, len(long_answer) / 100], [0.2, len(short_answer) / 100]])
    assert np.allclose(b, [[len(short_answer) / 100, 0.2], [len(long_answer) / 100, 2.0]])
    asyncio.run(cached.ascore(["q"], ["a new answer here"], ["verbosity"]))
    assert inner.calls == 2  # only the new text went to the model


def test_sqlite_cache_survives_across_runs(tmp_path):
    path = tmp_path / "cache.sqlite"
    first = LengthReference()
    scores = CachedReference(first, Cache(path), "length").score(["q"], ["w " * 25], ["verbosity"])
    second = LengthReference()
    again = CachedReference(second, Cache(path), "length").score(["q"], ["w " * 25], ["verbosity"])
    assert second.calls == 0 and np.array_equal(scores, again)
    other_model = LengthReference()
    CachedReference(other_model, Cache(path), "another-model").score(["q"], ["w " * 25], ["verbosity"])
    assert other_model.calls == 1  # the key includes the model id


def test_embeddings_persist_in_sqlite_and_skip_the_model(tmp_path):
    store = Cache(tmp_path / "emb.sqlite")
    first = Embedder(store=store)
    vectors = first.embed(["a sentence to embed once", "and another"])
    assert first.encoded_texts == 2
    second = Embedder(store=Cache(tmp_path / "emb.sqlite"))
    again = second.embed(["and another", "a sentence to embed once"])
    assert second.encoded_texts == 0 and second._model is None  # never even loaded
    assert np.allclose(vectors[::-1], again)
