"""Batches: an outcome for every item, durable JSONL, resume without redoing finished items."""

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hia import AsyncAligner, FilterSettings, TemplateOptimizer, align_many
from hia.engine.batch import finished_ids
from hia.errors import EndpointUnreachable

from .fakes import KeywordHeuristic, LengthReference, echo_policy


def aligner(hash_embedder, policy=echo_policy):
    return AsyncAligner(policy, LengthReference(), optimizer=TemplateOptimizer(), heuristic=KeywordHeuristic(),
                        embedder=hash_embedder, filters=FilterSettings(drift_similarity=-1.0))


def test_every_item_gets_an_outcome_even_when_some_fail(tmp_path, hash_embedder):
    def picky(prompt, seed=0):
        if "fail" in prompt:
            raise EndpointUnreachable("down for this one")
        return echo_policy(prompt, seed)

    items = [{"id": f"q{i}", "prompt": f"Question {i}{' fail' if i % 3 == 0 else ''}?", "goal": "verbosity=2"}
             for i in range(9)]
    out = tmp_path / "out.jsonl"
    report = asyncio.run(align_many(aligner(hash_embedder, picky), items, output=out, concurrency=4, progress=False))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == sorted(i["id"] for i in items)
    failed = [r for r in records if r["status"] == "error"]
    assert len(failed) == report.failed == 3
    assert all(r["error"]["type"] == "EndpointUnreachable" and r["result"]["candidates"] for r in failed)
    assert all(r["result"]["usage"]["policy_calls"] <= 2 for r in records if r["status"] == "ok")


def test_resume_skips_finished_items(tmp_path, hash_embedder):
    calls = []

    def counting(prompt, seed=0):
        calls.append(prompt)
        return echo_policy(prompt, seed)

    items = [{"id": i, "prompt": f"Question {i}?", "goal": "verbosity=2"} for i in range(6)]
    out = tmp_path / "out.jsonl"
    asyncio.run(align_many(aligner(hash_embedder, counting), items[:4], output=out, budget_per_item=1, progress=False))
    first = len(calls)
    report = asyncio.run(align_many(aligner(hash_embedder, counting), items, output=out, budget_per_item=1, progress=False))
    assert (report.skipped, report.done) == (4, 2)
    assert len(calls) - first == 2
    assert finished_ids(out) == {str(i) for i in range(6)}


def test_a_killed_batch_loses_no_finished_item(tmp_path):
    """A real process is killed with SIGKILL mid-batch; the rerun completes without redoing any item."""
    out = tmp_path / "out.jsonl"
    log = tmp_path / "calls.log"
    script = tmp_path / "run.py"
    root = str(Path(__file__).resolve().parents[1])
    script.write_text(textwrap.dedent(f"""
        import asyncio, sys, time
        sys.path.insert(0, {root!r})
        from hia import AsyncAligner, FilterSettings, TemplateOptimizer, align_many
        from tests.fakes import HashEmbedder, KeywordHeuristic, LengthReference, echo_policy

        def slow(prompt, seed=0):
            with open({str(log)!r}, "a") as f:
                f.write(prompt.splitlines()[0] + "\\n")
            time.sleep(0.15)
            return echo_policy(prompt, seed)

        aligner = AsyncAligner(slow, LengthReference(), optimizer=TemplateOptimizer(), heuristic=KeywordHeuristic(),
                               embedder=HashEmbedder(), filters=FilterSettings(drift_similarity=-1.0))
        items = [{{"id": i, "prompt": f"Question {{i}}?", "goal": "verbosity=2"}} for i in range(20)]
        asyncio.run(align_many(aligner, items, output={str(out)!r}, budget_per_item=1, concurrency=2, progress=False))
    """))
    proc = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 60
    while len(finished_ids(out)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    before = finished_ids(out)
    assert 5 <= len(before) < 20
    log.write_text("")
    subprocess.run([sys.executable, str(script)], check=True, timeout=120)
    assert finished_ids(out) == {str(i) for i in range(20)}
    redone = {line.strip() for line in log.read_text().splitlines()}
    assert not redone & {f"Question {i}?" for i in map(int, before)}  # no finished item was asked again
