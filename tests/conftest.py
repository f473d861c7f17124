"""Shared fixtures."""

from __future__ import annotations

import pytest

from .fakes import HashEmbedder


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()
