"""The embedding model can be loaded ahead of use, once, however many threads ask."""

import threading

from hia.models.embeddings import Embedder, preload, shared_embedder


def test_preload_loads_the_shared_model_once_and_embedding_then_needs_no_load():
    thread = preload()
    thread.join(120)
    embedder = shared_embedder()
    assert embedder._model is not None  # loaded in the background
    model = embedder._model
    assert embedder.embed(["basil"]).shape[0] == 1 and embedder._model is model


def test_concurrent_loads_share_one_model():
    embedder = Embedder()
    models = []
    threads = [threading.Thread(target=lambda: models.append(embedder.load())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(models) == 4 and all(m is models[0] for m in models)
