"""Preference data from alignment: the margin band, the labels, the columns TRL reads, and real
batch outputs and proxy traces as input."""

import asyncio
import json
import os
import subprocess
import sys

import openai
import pytest

from hia import AsyncAligner, AsyncChatPolicy, ExactReference, SearchOptions, TemplateOptimizer, align_many
from hia.errors import DataError, InputError
from hia.serving import ProxyServer
from hia.training.export import export_pairs
from tests.support.loopback import LoopbackServer, varied_length

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def result(prompt: str, answers: list[tuple[str, float, float]], rewrite: str = "A rewrite of it") -> dict:
    """An alignment result's dict with one candidate per (response, euclidean, goal_completion)."""
    candidates = [{"id": i, "prompt": rewrite if i else prompt, "evaluation": {
        "response": text, "scores": {}, "rewards": {"euclidean": reward, "goal_completion": met}}}
        for i, (text, reward, met) in enumerate(answers)]
    candidates.append({"id": len(answers), "prompt": "dropped", "evaluation": None})
    return {"prompt": prompt, "goal": {"targets": {"verbosity": 1.0}}, "objective": "euclidean",
            "candidates": candidates}


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_dpo_keeps_only_pairs_whose_margin_lies_in_the_band(tmp_path):
    answers = [("best", -0.1, 1.0), ("close", -0.3, 1.0), ("middle", -0.9, 0.0), ("far", -2.5, 0.0),
               ("close", -0.35, 1.0)]  # a repeated text counts once, at its best reward
    src = write_jsonl(tmp_path / "out.jsonl", [{"id": 1, "status": "ok", "result": result("Why is the sky blue?", answers)},
                                               {"id": 2, "status": "error", "error": {}, "result": None}])
    summary = export_pairs([src], tmp_path / "dpo.jsonl", format="dpo", min_margin=0.5, max_margin=1.5)
    rows = read_jsonl(tmp_path / "dpo.jsonl")
    assert {(r["chosen"], r["rejected"]) for r in rows} == {("best", "middle"), ("close", "middle")}
    assert all(r["prompt"] == "Why is the sky blue?" and r["goal"] == "verbosity=1" for r in rows)  # never the rewrite
    assert all(0.5 <= r["margin"] <= 1.5 and r["chosen_reward"] > r["rejected_reward"] for r in rows)
    assert {r["chosen_reward"] for r in rows if r["chosen"] == "close"} == {-0.3}  # a repeated text at its best
    assert summary.rows == 2 and summary.records == 2 and summary.aligned == 1
    assert summary.dropped["pair within the reference's error (margin < 0.5)"] == 1  # best-close
    assert summary.dropped["easy pair (margin > 1.5)"] == 3  # best-far, close-far, middle-far
    assert summary.dropped["record without a result"] == 1


def test_kto_labels_each_distinct_answer_by_whether_it_met_the_goal(tmp_path):
    answers = [("met", -0.2, 1.0), ("missed", -1.4, 0.5), ("met", -0.2, 1.0)]
    src = write_jsonl(tmp_path / "out.jsonl", [{"id": 1, "status": "ok", "result": result("Q?", answers)}])
    summary = export_pairs([src], tmp_path / "kto.jsonl", format="kto")
    rows = read_jsonl(tmp_path / "kto.jsonl")
    assert [(r["completion"], r["label"]) for r in rows] == [("met", True), ("missed", False)]
    assert summary.dropped["repeated answer"] == 1


def test_bad_inputs_get_typed_errors_and_no_half_written_file(tmp_path):
    with pytest.raises(InputError, match="not a file"):
        export_pairs([tmp_path / "missing.jsonl"], tmp_path / "x.jsonl")
    good = json.dumps({"result": result("Q?", [("a", -0.1, 1.0)])})
    bad = write_jsonl(tmp_path / "bad.jsonl", [])
    bad.write_text(good + "\n{oops\n" + good + "\n")
    with pytest.raises(DataError, match="bad.jsonl:2"):
        export_pairs([bad], tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "x.jsonl.partial").exists()
    torn = tmp_path / "torn.jsonl"
    torn.write_text(good + "\n" + good[:40])  # a killed writer's last line
    assert export_pairs([torn], tmp_path / "y.jsonl", format="kto").dropped["torn last line"] == 1
    with pytest.raises(InputError, match="margin band"):
        export_pairs([torn], tmp_path / "z.jsonl", min_margin=2, max_margin=1)
    with pytest.raises(InputError, match="unknown format"):
        export_pairs([torn], tmp_path / "z.jsonl", format="ppo")
    with pytest.raises(InputError, match="is a folder"):
        export_pairs([torn], tmp_path)


def test_a_real_batch_and_a_proxy_trace_export_to_files_trl_can_load(tmp_path):
    datasets = pytest.importorskip("datasets")
    items = [{"id": i, "prompt": f"How do I keep plant {i} alive indoors?", "goal": "verbosity=1"} for i in range(4)]
    with LoopbackServer(responder=varied_length) as upstream:
        aligner = AsyncAligner(AsyncChatPolicy("m", base_url=upstream.base_url), ExactReference(),
                               optimizer=TemplateOptimizer(), options=SearchOptions(method="best_of_n"))
        asyncio.run(align_many(aligner, items, output=tmp_path / "batch.jsonl", budget_per_item=6, progress=False))
        with ProxyServer(upstream_url=upstream.base_url, model="m", trace=tmp_path / "trace.jsonl",
                         reference=ExactReference()) as proxy:
            client = openai.OpenAI(base_url=proxy.base_url, api_key="sk-never-in-a-trace-0123456789", max_retries=0)
            for i in range(2):
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"Why is sky {i} blue?"}],
                                               user="ana", extra_body={"goal": "verbosity=1", "budget": 4,
                                                                       "method": "best_of_n"})
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Not aligned"}])
    trace = read_jsonl(tmp_path / "trace.jsonl")
    assert len(trace) == 2 and {t["user"] for t in trace} == {"ana"} and all(t["id"].startswith("req-") for t in trace)
    assert "sk-never-in-a-trace" not in (tmp_path / "trace.jsonl").read_text()
    inputs = [str(tmp_path / "batch.jsonl"), str(tmp_path / "trace.jsonl")]
    for fmt, columns in (("dpo", {"prompt", "chosen", "rejected"}), ("kto", {"prompt", "completion", "label"})):
        out = subprocess.run([sys.executable, "-m", "hia.cli", "export-pairs", *inputs, "--format", fmt,
                              "--out", str(tmp_path / f"{fmt}.jsonl")], capture_output=True, text=True, timeout=120,
                             cwd=ROOT)
        assert out.returncode == 0, out.stderr
        assert "6 records read, 6 with scored answers" in out.stdout
        table = datasets.Dataset.from_json(str(tmp_path / f"{fmt}.jsonl"))
        assert columns <= set(table.column_names) and "goal" in table.column_names and len(table) > 0
        prompts = {item["prompt"] for item in items} | {"Why is sky 0 blue?", "Why is sky 1 blue?"}
        assert set(table["prompt"]) <= prompts  # the user's prompts, never rewrites
    kto = datasets.Dataset.from_json(str(tmp_path / "kto.jsonl"))
    assert kto.features["label"].dtype == "bool" and set(kto["label"]) == {True, False}


def test_batch_command_aligns_a_file_and_resumes(tmp_path):
    items = tmp_path / "items.jsonl"
    write_jsonl(items, [{"id": f"q{i}", "prompt": f"Question {i}?", "goal": "verbosity=1"} for i in range(3)])
    with LoopbackServer(responder=varied_length) as upstream:
        def run(*extra):
            return subprocess.run([sys.executable, "-m", "hia.cli", "batch", str(items), "--out", str(tmp_path / "o.jsonl"),
                                   "--base-url", upstream.base_url, "--model", "m", "--method", "best_of_n",
                                   "--reference", "exact", "--budget", "2", *extra], capture_output=True, text=True,
                                  timeout=300, cwd=ROOT)
        first = run()
        calls = len(upstream.requests)
        second = run()
    assert first.returncode == 0, first.stderr
    records = read_jsonl(tmp_path / "o.jsonl")
    assert sorted(r["id"] for r in records) == ["q0", "q1", "q2"] and all(r["status"] == "ok" for r in records)
    assert calls == 6 and len(upstream.requests) == 6  # the rerun paid for nothing
    assert "3 already in" in second.stderr
    (tmp_path / "bad.jsonl").write_text('{"id": 1, "goal": "verbosity=1"}\n')
    bad = subprocess.run([sys.executable, "-m", "hia.cli", "batch", str(tmp_path / "bad.jsonl"), "--out",
                          str(tmp_path / "o2.jsonl"), "--base-url", "http://127.0.0.1:9/v1", "--model", "m"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert bad.returncode == 2 and "bad.jsonl:1: the item has no prompt" in bad.stderr


@pytest.mark.parametrize("args, message", [
    (["missing.jsonl", "--out", "o.jsonl"], "does not exist"),
    (["items.jsonl", "--out", "o.jsonl", "--split-evenly"], "--split-evenly splits a --total-budget"),
])
def test_batch_command_refuses_what_it_cannot_run_before_any_call(tmp_path, args, message):
    write_jsonl(tmp_path / "items.jsonl", [{"id": 1, "prompt": "Why?", "goal": "verbosity=1"}])
    out = subprocess.run([sys.executable, "-m", "hia.cli", "batch", *args, "--base-url", "http://127.0.0.1:9/v1",
                          "--model", "m"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr


def test_an_output_that_is_one_of_the_inputs_is_refused_and_the_input_kept(tmp_path):
    import os
    import subprocess
    import sys

    from hia import InputError

    paid = tmp_path / "out.jsonl"
    paid.write_text('{"id": "a", "status": "ok", "result": {"candidates": []}}\n')
    before = paid.read_bytes()
    alias = tmp_path / "alias.jsonl"
    os.link(paid, alias)  # another name for the same file
    for out in (paid, alias):
        with pytest.raises(InputError, match="is the input"):
            export_pairs([paid], out)
    assert paid.read_bytes() == before
    run = subprocess.run([sys.executable, "-m", "hia.cli", "batch", str(paid), "--out", str(alias), "--budget", "1"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "is the input" in run.stderr and "Traceback" not in run.stderr
    assert paid.read_bytes() == before
