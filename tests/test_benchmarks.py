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
