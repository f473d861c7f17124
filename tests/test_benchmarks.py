"""The benchmark scripts' --quick modes run and write well-formed summaries."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _harness  # noqa: E402


def _row(item: str, method: str, budget: int, euclidean: float, reference: str = "trained", on_topic: float = 0.5) -> dict:
    return {"item": item, "method": method, "budget": budget, "reference": reference, "policy_calls": budget,
            "optimizer_calls": 0, "prompt_tokens": 1, "completion_tokens": 1, "wall_s": 1.0, "stage_seconds": {},
            "on_topic": on_topic,
            "rewards": {"euclidean": euclidean, "max_error": euclidean, "goal_completion": euclidean}}


def test_headline_pairs_items_and_names_the_default_hia_method():
    rows = [_row(i, "best_of_n", 8, -1.0) for i in "ab"] + [_row(i, "best_of_n", 1, -1.5) for i in "ab"]
    rows += [_row("a", "hia_greedy", 2, -0.5, on_topic=0.4), _row("b", "hia_greedy", 2, -1.0, on_topic=0.6)]
    rows += [_row("a", "hia_greedy", 1, -2.0), _row("b", "hia_greedy", 1, -1.5)]
    rows += [_row("a", "hia_greedy", 2, -9.0, reference="exact")]  # another reference's rows never mix in
    table = _harness.summarise(rows, "trained")
    head = _harness.headline(rows, table, "trained", 8)
    assert head["hia_method"] == "hia_greedy" and head["hia@2"] == -0.75 and head["best_of_n@8"] == -1.0
    assert head["hia@2 - best_of_n@8"] == {"mean": 0.25, "ci95": [0.0, 0.5], "items": 2}  # items a and b: +0.5 and 0.0
    assert head["hia@1 - best_of_n@1"]["mean"] == -0.25
    assert head["targets"] == {"hia@2 >= best_of_n@8": True, "hia@1 >= best_of_n@1": False,
                               "hia@1 > best_of_n@1, interval above zero": False,  # -0.5 and 0.0: not above zero
                               "hia@2 > best_of_n@2, interval above zero": None}  # no best_of_n@2 rows
    assert head["on_topic: hia@2 - best_of_n@8"]["mean"] == 0.0
    assert "target missed" in _harness.headline_text(head, "trained")


def test_the_stage2_diagnostic_scores_an_oracle_a_contrarian_and_the_spread():
    import numpy as np
    import stage2

    from hia import Goal, HeuristicRewardModel
    from hia.core.results import Candidate

    goal = Goal.parse("verbosity=2")
    items = [_harness.BenchItem(f"i{k}", f"Question {k}?", {"trained": goal}) for k in range(6)]
    pools = {item.id: [Candidate(id=j, prompt=f"{item.prompt} ask {j}", round=1, source="optimizer")
                       for j in range(3)] for item in items}
    # prompt j's answers score verbosity 2 - j (and 2 - j +/- 0.1 across seeds): prompt 0 is best
    rows = [{"item": item.id, "candidate": j, "seed": s, "prompt": f"{item.prompt} ask {j}",
             "scores": {"trained": {"verbosity": 2.0 - j + (0.1 if s else -0.1)}}}
            for item in items for j in range(3) for s in range(2)]

    class Knows(HeuristicRewardModel):
        def __init__(self, backwards: bool) -> None:
            self.backwards = backwards

        def predict(self, prompts, attributes):
            asks = [int(p.rsplit(" ", 1)[1]) for p in prompts]
            return np.array([[float(j) if self.backwards else 2.0 - j] for j in asks])  # backwards: prompt 2 looks best

    found = stage2.measure(items, pools, rows, "trained", {"oracle": Knows(False), "contrarian": Knows(True)},
                           "euclidean")
    oracle, contrarian = found["oracle"], found["contrarian"]
    assert oracle["oracle_share"] == 1.0 and oracle["spearman"] == 1.0 and oracle["n_items"] == 6
    # true rewards -0.1, -1.0, -2.0 (euclidean, means over the two seeds): random -1.033, oracle -0.1
    assert abs(oracle["pick_minus_random"]["mean"] - (-0.1 + 1.0333)) < 1e-3
    assert contrarian["pick_minus_random"]["mean"] < 0 and contrarian["oracle_share"] < 0
    assert oracle["between_share"] > 0.9  # the prompts differ far more than the seeds
    assert abs(oracle["spread"]["mean_max_minus_min"] - 1.9) < 1e-6
    # chosen by one seed, paid by the other: seed 1's rewards -0.1, -0.9, -1.9 (gain 0.867 over their
    # mean), seed 0's -0.1, -1.1, -2.1 (gain 1.0); prompt 0 is chosen both ways
    assert abs(oracle["split_seed_minus_random"]["mean"] - (0.8667 + 1.0) / 2) < 1e-3
    assert abs(oracle["oracle_minus_random"] - (-0.1 + 1.0333)) < 1e-3


def test_the_split_seed_choice_is_paid_by_the_seed_it_did_not_choose_by():
    import stage2

    # each prompt wins on one seed only: chosen by seed 0, prompt 0 pays 0.0 on seed 1 (mean 0.25);
    # chosen by seed 1, prompt 1 pays 0.0 on seed 0 (mean 0.5). Paid by the choosing seed it would gain.
    assert abs(stage2.split_seed_gain([[1.0, 0.0], [0.0, 0.5]]) - (-0.25 - 0.5) / 2) < 1e-9


def test_losses_name_every_comparison_an_hia_variant_loses():
    rows = [_row("a", "greedy", 2, -0.2), _row("a", "hia_greedy", 2, -0.75), _row("a", "best_of_n", 2, -1.0)]
    found = _harness.losses(_harness.summarise(rows, "trained"))
    assert found["hia_greedy"] == [f"greedy@2 {name} -0.200 > -0.750" for name in _harness.REWARDS]


def test_run_all_summarises_only_the_items_asked_for(tmp_path):
    import asyncio

    from hia import Goal

    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(_row(i, "hia_greedy", 1, -1.0)) + "\n" for i in ("a", "b", "c")))
    goal = Goal({"verbosity": 2.0})
    items = [_harness.BenchItem(i, "prompt", {"trained": goal}) for i in ("a", "b")]
    plan = _harness.Plan(["hia_greedy"], [1], [], 0, {"trained": None})
    rows = asyncio.run(_harness.run_all(items, plan, aligners={}, its_lm=None, rows_path=path, embedder=None))
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
    assert {(r["method"], r["optimizer"]) for r in summary["overhead_by_method"]} == {
        ("best_of_n", "template"), ("hia", "template"), ("hia", "llm")}
    assert summary["throughput_engine"] == "inprocess" and set(summary["throughput_fraction"]) == {"1", "8"}
    assert all(set(by_method) == {"hia", "hia_llm", "best_of_n"} and all(0 < f <= 1.05 for f in by_method.values())
               for by_method in summary["throughput_fraction"].values())
    ray_runs = summary["ray_runs"]
    assert summary["ray_workers"] == 2 and {(r["engine"], r["method"]) for r in ray_runs} == {
        ("ray", "hia"), ("ray", "hia_llm"), ("ray", "best_of_n")}
    assert all(r["failed"] == 0 for r in summary["throughput_runs"] + ray_runs)
    assert all(0 < r["throughput_fraction"] <= 1.05 and r["start_s"] > 0 for r in ray_runs)
    assert "engine overhead" in run.stdout and "throughput" in run.stdout
    # beside the bare openai client, same calls, same concurrency, in the same run
    assert set(summary["throughput_vs_bare"]) == {"1", "8"}
    assert all(set(v) == {"hia", "hia_llm", "best_of_n"} and all(0 < x < 2 for x in v.values())
               for v in summary["throughput_vs_bare"].values())
    assert {(r["method"], r["concurrency"]) for r in summary["bare_runs"]} == {
        (m, c) for m in ("hia", "hia_llm", "best_of_n") for c in (1, 8)}
    assert "against the bare openai client" in run.stdout


SHARED = ROOT / ".." / "shared" / "data" / "helpsteer" / "helpsteer_v1_sample500.jsonl"


@pytest.mark.integration  # the embedded llama.cpp servers
def test_helpsteer_quick_runs_every_method_under_both_references(tmp_path):
    import pytest

    if not SHARED.is_file():
        pytest.skip("shared HelpSteer data not present")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "helpsteer.py"), "--quick", "--out-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp_path / "helpsteer.json").read_text())
    assert summary["n_items"] == 2 and summary["attributes"] == ["complexity", "verbosity"]
    assert set(summary["headline"]) == {"trained", "exact"}
    for reference, head in summary["headline"].items():
        assert {"hia@1", "hia@2", "best_of_n@1", "best_of_n@2"} <= set(head) and head["hia@1"] is not None
        assert head["hia@1 - best_of_n@1"]["items"] == 2
        assert set(summary["methods"][reference]) == {"best_of_n", "its_hub_best_of_n", "hia_greedy", "hia_beam"}
    rows = [json.loads(line) for line in (tmp_path / "helpsteer_rows.jsonl").read_text().splitlines()]
    # per reference: best-of-N at 1 and 2, its-hub at 2, two searches at 1 and 2
    assert len(rows) == 2 * 2 * (2 + 1 + 2 * 2)
    bon = {(r["item"], r["budget"], r["reference"]): r for r in rows if r["method"] == "best_of_n"}
    assert all(bon[(i, 1, ref)]["derived_from"] == "best_of_n@2" for i, _, ref in bon)  # nested: one run of 2
    for r in rows:
        assert r["policy_calls"] <= r["budget"]
        assert r["on_topic"] is None or -1 <= r["on_topic"] <= 1
    searches = [r for r in rows if r["method"].startswith("hia")]
    assert all(r["proposed"] >= r["passed_stage1"] >= 0 for r in searches)
    assert (tmp_path / "helpsteer_euclidean.png").stat().st_size > 5000
    assert "| hia_greedy | 1 |" in (tmp_path / "helpsteer.md").read_text()
    assert summary["rows_wall_s"] > 0 and "helpsteer.py" in summary["command"]


SHARED_SE = ROOT / ".." / "shared" / "data" / "stackexchange" / "se_preferences_3dprinting_sample500.jsonl"


@pytest.mark.integration  # the embedded llama.cpp servers
def test_compred_quick_combines_community_and_measured_goals(tmp_path):
    import pytest

    if not SHARED_SE.is_file():
        pytest.skip("shared Stack Exchange data not present")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compred.py"), "--quick", "--out-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=900, cwd=ROOT / "benchmarks")
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp_path / "compred.json").read_text())
    assert summary["attributes"][0] == "community" and summary["training_pairs"] == 300
    assert set(summary["headline"]) == {"trained", "exact"}
    rows = [json.loads(line) for line in (tmp_path / "compred_rows.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * (2 + 1 + 2 * 2)
    assert all(r["goal"].startswith("community=") and r["policy_calls"] <= r["budget"] for r in rows)
    assert all(set(r["scores"]) >= {"community"} for r in rows if r["scores"])


def test_compred_trains_on_the_same_pairs_whatever_the_item_count():
    from types import SimpleNamespace

    import compred

    pairs = [SimpleNamespace(prompt=f"question {q}") for q in range(60) for _ in range(3)]
    five, training_five = compred.split(pairs, 5, 80, seed=0)
    six, training_six = compred.split(pairs, 6, 80, seed=0)
    assert six[:5] == five  # a smaller run is a prefix of a larger one
    assert training_five == training_six
    assert not {p.prompt for p in training_six} & set(six)


def test_benchmark_items_come_from_the_evaluation_split_with_goals_someone_met():
    import pytest

    if not SHARED.is_file():
        pytest.skip("shared HelpSteer data not present")
    import helpsteer

    from hia.data import load_helpsteer
    from hia.data.splits import is_dev_prompt

    items = helpsteer.items(SHARED, 24, 100, ["complexity", "verbosity"], seed=0)
    assert len(items) == 24 and not any(is_dev_prompt(item.prompt) for item in items)
    rated = load_helpsteer(SHARED).rows
    for item in items:
        goal = item.goals["trained"]
        assert goal == item.goals["exact"] and 1 <= len(goal.targets) <= 2
        # the targets are the ratings of one response to this very prompt
        assert any(all(r.scores[a] == t for a, t in goal.targets.items()) for r in rated if r.prompt == item.prompt)


def test_any_helpsteer2_file_gives_items(tmp_path):
    import helpsteer

    from hia.data.splits import is_dev_prompt

    rows = []
    for i in range(30):  # HelpSteer2's schema: the same five ratings, and fields of its own beside them
        prompt = f"Question number {i}: how do tides work on planet {i}?"
        for j in range(2):
            rows.append({"prompt": prompt, "response": f"Answer {j} " * (5 + 10 * j), "helpfulness": 3, "correctness": 3,
                         "coherence": 4, "complexity": j + 1, "verbosity": 2 * j, "source": "helpsteer2"})
    data = tmp_path / "helpsteer2.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = helpsteer.items(data, 8, 100, ["complexity", "verbosity"], seed=0)
    assert len(items) == 8 and not any(is_dev_prompt(item.prompt) for item in items)
    assert all(set(item.goals["exact"].targets) <= {"complexity", "verbosity"} for item in items)
    assert {tuple(item.goals["trained"].targets.values()) for item in items} <= {(1.0,), (2.0,), (0.0,), (1.0, 0.0), (2.0, 2.0)}


@pytest.mark.integration  # the embedded llama.cpp servers
def test_dataset_budget_compares_both_allocations_at_the_same_total(tmp_path):
    import pytest

    if not SHARED.is_file():
        pytest.skip("shared HelpSteer data not present")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "dataset_budget.py"), "--items", "2", "--per-item",
                          "2", "--max-tokens", "32", "--out-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=900, cwd=ROOT / "benchmarks")
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((tmp_path / "dataset_budget.json").read_text())
    assert report["items"] == 2 and report["total_calls"] == 4
    assert report["calls"]["even"] == 2.0 and report["calls"]["adaptive"] <= 2.0  # never past the same total
    assert sum(report["adaptive_calls_per_item"]) <= 4 and sum(report["adaptive_why"].values()) == 2
    for name in ("euclidean", "goal_met"):
        assert set(report[name]) == {"even", "adaptive", "adaptive - even"}


def test_the_stage2_calibration_learns_a_policy_that_overshoots_and_keeps_it_as_a_policy_memory(tmp_path):
    import asyncio

    import numpy as np
    import stage2

    from hia import Goal, TemplateOptimizer
    from hia.core.attributes import requested_levels
    from hia.core.results import Candidate
    from hia.rewards.policy_memory import PolicyMemory
    from hia.rewards.shipped import default_heuristic
    from tests.fakes import HashEmbedder

    goal = Goal.parse("verbosity=1")
    items = [_harness.BenchItem(f"d{k}", f"How do I look after plant number {k}?", {"trained": goal}) for k in range(4)]
    pools = {item.id: [Candidate(id=j, prompt=p, round=1, source="optimizer") for j, p in enumerate(
        asyncio.run(TemplateOptimizer().propose(item.prompt, goal, 3, original=item.prompt)), 1)] for item in items}
    # this policy writes a level and a half longer than each rewrite asks for
    rows = [{"item": item.id, "candidate": c.id, "seed": s, "prompt": c.prompt,
             "scores": {"trained": {"verbosity": min(4.0, requested_levels(c.prompt, ["verbosity"])["verbosity"] + 1.5)}}}
            for item in items for c in pools[item.id] for s in range(2)]
    memory = PolicyMemory(tmp_path / "memory.json", policy="local m")
    calibrated = stage2.calibrated_heuristic(HashEmbedder(), items, rows, "trained", memory)
    memory.flush()
    question, prompt = items[0].prompt, pools[items[0].id][0].prompt
    asked = requested_levels(prompt, ["verbosity"])["verbosity"]
    before = default_heuristic(HashEmbedder()).predict_for(question, [prompt], ["verbosity"])[0, 0]
    after = calibrated.predict_for(question, [prompt], ["verbosity"])[0, 0]
    assert before < asked + 0.5 < asked + 1.0 < after  # it learned the overshoot
    reread = default_heuristic(HashEmbedder(), PolicyMemory(tmp_path / "memory.json"))
    assert np.isclose(reread.predict_for(question, [prompt], ["verbosity"])[0, 0], after, atol=1e-3)
    # leave one out: the item ranked is not among the answers its heuristic learned from
    held_out = stage2.leave_one_out(HashEmbedder(), items, rows, "trained")(items[0])
    assert held_out.memory.evidence("verbosity") == sum(1 for r in rows if r["item"] != items[0].id)
