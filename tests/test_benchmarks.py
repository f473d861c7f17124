"""The benchmark scripts' --quick modes run and write well-formed summaries."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _harness  # noqa: E402


def _row(item: str, method: str, budget: int, euclidean: float) -> dict:
    return {"item": item, "method": method, "budget": budget, "policy_calls": budget, "optimizer_calls": 0,
            "prompt_tokens": 1, "completion_tokens": 1, "wall_s": 1.0, "stage_seconds": {},
            "rewards": {"euclidean": euclidean, "max_error": euclidean, "goal_completion": euclidean}}


def test_verdict_names_every_comparison_hia_loses():
    rows = [_row(i, "best_of_n", 8, -1.0) for i in "ab"] + [_row(i, "best_of_n", 2, -1.5) for i in "ab"]
    rows += [_row("a", "hia_greedy", 2, -0.5), _row("b", "hia_greedy", 2, -1.0)]  # mean -0.75
    rows += [_row("a", "greedy", 2, -0.2), _row("b", "greedy", 2, -0.2)]
    table = _harness.summarise(rows, ["best_of_n", "greedy", "hia_greedy"], [2, 8])
    found = _harness.verdict(table, [2, 8], rows)
    against = found["hia_at_2_vs_best_of_n_at_8"]["hia_greedy"]["euclidean"]
    assert against["reaches"] and against["hia_at_2"] == -0.75 and against["best_of_n_at_8"] == -1.0
    assert against["paired_difference"]["mean"] == 0.25  # items a and b: +0.5 and 0.0
    assert against["paired_difference"]["ci95"] == [0.0, 0.5]
    losses = found["hia_vs_every_other_method"]["hia_greedy"]["losses"]
    assert losses == [f"greedy@2 {name} -0.200 > -0.750" for name in _harness.REWARDS]
    assert "hia_greedy loses 3 comparisons" in _harness.verdict_text(found)


def test_run_all_summarises_only_the_items_asked_for(tmp_path):
    import asyncio

    from hia import Goal

    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(_row(i, "best_of_n", 1, -1.0)) + "\n" for i in ("a", "b", "c")))
    items = [_harness.BenchItem(i, "prompt", Goal({"verbosity": 2.0})) for i in ("a", "b")]
    rows = asyncio.run(_harness.run_all(items, ["best_of_n"], [1], aligner=None, its_lm=None, reference=None,
                                        objective="euclidean", rows_path=path))
    assert sorted(r["item"] for r in rows) == ["a", "b"]  # "c" belongs to a larger run: kept on disk, not counted
    assert len(path.read_text().splitlines()) == 3


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
    assert set(summary["verdict"]["hia_vs_every_other_method"]) == {"hia_greedy", "hia_beam"}
    assert summary["rows_wall_s"] > 0 and "helpsteer.py" in summary["command"]


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


def test_compred_trains_on_the_same_pairs_whatever_the_item_count():
    from types import SimpleNamespace

    import compred

    pairs = [SimpleNamespace(prompt=f"question {q}") for q in range(20) for _ in range(3)]
    five, training_five = compred.split(pairs, 5, 80, seed=0)
    six, training_six = compred.split(pairs, 6, 80, seed=0)
    assert six[:5] == five  # a smaller run is a prefix of a larger one
    assert training_five == training_six and len(training_six) == 3 * (20 - compred.HELD_OUT)
    assert not {p.prompt for p in training_six} & set(six)
