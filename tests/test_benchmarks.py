"""The benchmark scripts' --quick modes run and write well-formed summaries."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_overhead_quick_writes_the_documented_summary(tmp_path):
    out = tmp_path / "overhead.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "overhead.py"), "--quick", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    summary = json.loads(out.read_text())
    assert summary["latency_ms"] == 200 and summary["quick"] is True
    assert 0 < summary["overhead_fraction"] < 1
    assert set(summary["throughput_fraction"]) == {"1", "8"}
    assert all(0 < f <= 1.05 for f in summary["throughput_fraction"].values())
    assert all(r["failed"] == 0 for r in summary["throughput_runs"])
    assert "engine overhead" in run.stdout and "throughput" in run.stdout


SHARED = ROOT / ".." / "shared" / "data" / "helpsteer" / "helpsteer_v1_sample500.jsonl"


def test_helpsteer_quick_runs_every_method_on_the_local_models(tmp_path):
    import pytest

    if not SHARED.is_file():
        pytest.skip("shared HelpSteer data not present")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "helpsteer.py"), "--quick", "--out-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp_path / "helpsteer.json").read_text())
    assert set(summary["methods"]) == {"greedy", "best_of_n", "beam", "hia_greedy", "hia_beam", "its_hub_best_of_n"}
    assert summary["n_items"] == 2 and summary["attributes"]
    for method, cells in summary["methods"].items():
        assert set(cells) == {"1", "2"}
        for budget, cell in cells.items():
            assert cell["policy_calls"] <= int(budget)  # never over budget
            for name in ("euclidean", "max_error", "goal_completion"):
                low, high = cell[name]["ci95"]
                assert low <= cell[name]["mean"] <= high
    rows = [json.loads(line) for line in (tmp_path / "helpsteer_rows.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 6 * 2
    for name in ("euclidean", "max_error", "goal_completion"):
        assert (tmp_path / f"helpsteer_{name}.png").stat().st_size > 5000
    assert "| hia_greedy | 1 |" in (tmp_path / "helpsteer.md").read_text()


SHARED_SE = ROOT / ".." / "shared" / "data" / "stackexchange" / "se_preferences_3dprinting_sample500.jsonl"


def test_compred_quick_combines_community_and_helpsteer_goals(tmp_path):
    import pytest

    if not SHARED_SE.is_file():
        pytest.skip("shared Stack Exchange data not present")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compred.py"), "--quick", "--out-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=900, cwd=ROOT / "benchmarks")
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp_path / "compred.json").read_text())
    assert summary["attributes"][0] == "community" and summary["training_pairs"] == 300
    rows = [json.loads(line) for line in (tmp_path / "compred_rows.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 6 * 2
    assert all("community" in r["goal"] and r["policy_calls"] <= r["budget"] for r in rows)
    assert all(set(r["scores"]) >= {"community"} for r in rows if r["scores"])
