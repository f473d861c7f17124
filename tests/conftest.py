"""Shared fixtures."""

from __future__ import annotations

import os
import tempfile

import pytest

from .fakes import HashEmbedder

# What the heuristic learns about a policy is kept on disk; the tests (and the commands they run)
# keep theirs in a folder of their own, never in the user's ~/.cache/hia.
os.environ.setdefault("HIA_MEMORY_DIR", tempfile.mkdtemp(prefix="hia-memory-"))


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def redis_server():
    """A real redis-server of the test's own, on a free port."""
    from .support.redis_server import RedisServer

    server = RedisServer()
    yield server
    server.stop()
