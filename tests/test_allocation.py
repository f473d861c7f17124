"""One budget for a whole dataset: calls go to the items still off their goal and improving,
never past the total, and every record says how many calls its item got and why."""

import asyncio
import json

import pytest

from hia import AsyncAligner, AsyncChatPolicy, ExactReference, InputError, SearchOptions, TemplateOptimizer, align_many
from tests.support.loopback import LoopbackServer
from tests.support.processes import kill_when


def answer_by_topic(request: dict) -> str:
    """A policy whose answer length depends on the question: 'easy' and 'stuck' questions always get
    the same 10 words; 'growing' ones get 8 more words with every call (the seed counts the calls)."""
    text = str(request["messages"][-1]["content"])
    if "growing" in text:
        return " ".join(["Water the basil when dry."] * (1 + 2 * (int(request.get("seed") or 0) % 25)))
    return "Keep it in a sunny window and water it often."


ITEMS = ([{"id": f"easy{i}", "prompt": f"easy question {i}?", "goal": "verbosity=0"} for i in range(4)]
         + [{"id": f"stuck{i}", "prompt": f"stuck question {i}?", "goal": "verbosity=4"} for i in range(2)]
         + [{"id": f"growing{i}", "prompt": f"growing question {i}?", "goal": "verbosity=3"} for i in range(2)])


def run(tmp_path, name, method, **budget):
    with LoopbackServer(responder=answer_by_topic) as upstream:
        aligner = AsyncAligner(AsyncChatPolicy("m", base_url=upstream.base_url), ExactReference(),
                               optimizer=TemplateOptimizer(), options=SearchOptions(method=method))
        report = asyncio.run(align_many(aligner, ITEMS, output=tmp_path / name, progress=False, **budget))
        calls = len(upstream.requests)
    records = {r["id"]: r for r in map(json.loads, (tmp_path / name).read_text().splitlines())}
    return report, records, calls


@pytest.mark.parametrize("method", ["best_of_n", "hia"])
def test_the_total_is_spent_where_it_pays_and_never_exceeded(tmp_path, method):
    report, records, calls = run(tmp_path, "out.jsonl", method, total_budget=24)
    assert sorted(records) == sorted(i["id"] for i in ITEMS) and report.failed == 0
    assert calls <= 24 and sum(r["allocation"]["calls"] for r in records.values()) == calls
    for i in range(4):  # met at once: one call, no more
        assert records[f"easy{i}"]["allocation"] == {"calls": 1, "why": "goal met after 1 call"}
    for i in range(2):  # never improves: stopped after the patience, not fed the rest
        stuck = records[f"stuck{i}"]["allocation"]
        assert stuck["calls"] == 3 and "unlikely to improve" in stuck["why"]
    growing = [records[f"growing{i}"]["allocation"] for i in range(2)]
    # The items still improving got the calls the others did not need, until they met their goal.
    assert all(g["calls"] >= 2 and g["why"].startswith("goal met") for g in growing)
    for r in records.values():
        assert r["status"] == "ok" and r["result"]["usage"]["policy_calls"] == r["allocation"]["calls"]


def test_an_even_split_of_the_same_total_feeds_every_item_alike(tmp_path):
    _, records, calls = run(tmp_path, "even.jsonl", "best_of_n", budget_per_item=3)
    assert calls == 24 and {r["result"]["usage"]["policy_calls"] for r in records.values()} == {3}


def test_a_total_smaller_than_the_items_leaves_the_rest_recorded_as_budget_exhausted(tmp_path):
    report, records, calls = run(tmp_path, "small.jsonl", "best_of_n", total_budget=5)
    assert calls == 5 and len(records) == len(ITEMS) and report.failed == 3
    exhausted = [r for r in records.values() if r["status"] == "error"]
    assert all(r["error"]["type"] == "BudgetExhausted" and r["allocation"]["calls"] == 0 for r in exhausted)


def test_total_budget_and_shared_budget_are_not_given_together(tmp_path):
    from hia import Budget

    aligner = AsyncAligner(lambda prompt: "x", ExactReference())
    with pytest.raises(InputError, match="not both"):
        asyncio.run(align_many(aligner, ITEMS, output=tmp_path / "x.jsonl", total_budget=4, shared_budget=Budget(4),
                                       progress=False))
    with pytest.raises(InputError, match="total_budget"):
        asyncio.run(align_many(aligner, ITEMS, output=tmp_path / "x.jsonl", total_budget=0, progress=False))


def test_resume_continues_an_alignment_with_new_seeds_and_keeps_what_was_paid(tmp_path):
    with LoopbackServer(responder=answer_by_topic) as upstream:
        aligner = AsyncAligner(AsyncChatPolicy("m", base_url=upstream.base_url), ExactReference(),
                               optimizer=TemplateOptimizer())
        first = asyncio.run(aligner.align("growing question?", "verbosity=2", budget=2))
        answers = {c.id: c.evaluation.response for c in first.evaluated}
        more = asyncio.run(aligner.align("growing question?", "verbosity=2", budget=2, resume=first))
        with pytest.raises(InputError, match="same prompt"):
            asyncio.run(aligner.align("another question?", "verbosity=2", budget=1, resume=first))
    assert more is first and more.budget == 4 and more.usage.policy_calls == 4 == len(upstream.requests)
    assert len(answers) == 2
    assert {c.id: c.evaluation.response for c in more.evaluated if c.id in answers} == answers  # kept
    seeds = [r["seed"] for r in upstream.requests]
    assert len(set(seeds)) == 4  # every call a new sample
    assert max(c.round for c in more.candidates) > max(c.round for c in more.candidates if c.id in answers)


def test_batch_command_spends_a_total_budget_where_it_pays(tmp_path):
    import subprocess
    import sys

    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(i) + "\n" for i in ITEMS))
    with LoopbackServer(responder=answer_by_topic) as upstream:
        out = subprocess.run([sys.executable, "-m", "hia.cli", "batch", str(items), "--out", str(tmp_path / "o.jsonl"),
                              "--base-url", upstream.base_url, "--model", "m", "--method", "best_of_n", "--reference",
                              "exact", "--total-budget", "24"], capture_output=True, text=True, timeout=300)
        calls = len(upstream.requests)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert calls <= 24 and len(records) == len(ITEMS)
    assert sorted(r["allocation"]["calls"] for r in records if r["id"].startswith("easy")) == [1, 1, 1, 1]


def ids_in(path, field: str) -> set:
    """The `field` of every whole JSON line of `path` (a line being written is skipped)."""
    found = set()
    for line in (path.read_text().splitlines() if path.exists() else []):
        try:
            found.add(json.loads(line)[field])
        except (ValueError, KeyError, TypeError):
            continue
    return found


def half_done_now(out, journal) -> bool:
    return bool(ids_in(journal, "item") - ids_in(out, "id"))


def test_a_killed_batch_pays_again_only_for_calls_in_flight(tmp_path):
    """kill -9 mid-run, then rerun: every answer that had arrived is replayed from the journal."""
    import subprocess
    import sys

    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"How do I keep plant {i} alive?",
                                         "goal": "verbosity=1"}) + "\n" for i in range(8)))
    out = tmp_path / "o.jsonl"
    # greedy makes an item's calls one after another, so a kill catches items half done
    command = [sys.executable, "-m", "hia.cli", "batch", str(items), "--out", str(out), "--method", "greedy",
               "--reference", "exact", "--budget", "3", "--concurrency", "2", "--model", "m"]
    with LoopbackServer(latency_s=0.3) as upstream:
        first = subprocess.Popen([*command, "--base-url", upstream.base_url], stderr=subprocess.DEVNULL)
        # Killed once an item has a journaled answer and is not yet recorded: it still has calls of
        # 0.3 s each to make, so it cannot finish between this check and the kill.
        kill_when(first, lambda: half_done_now(out, tmp_path / "o.jsonl.answers.jsonl"), timeout_s=120)
        sent_before = len(upstream.requests)
        finished_before = {json.loads(line)["id"] for line in out.read_text().splitlines()} if out.exists() else set()
        journal = [json.loads(line) for line in (tmp_path / "o.jsonl.answers.jsonl").read_text().splitlines()
                   if line.strip()]
        rerun = subprocess.run([*command, "--base-url", upstream.base_url], capture_output=True, text=True, timeout=300)
        sent_after = len(upstream.requests) - sent_before
    assert rerun.returncode == 0, rerun.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == [f"q{i}" for i in range(8)]
    assert all(r["status"] == "ok" for r in records)
    calls = sum(r["result"]["usage"]["policy_calls"] for r in records)  # replayed answers count once, as paid
    half_done = [e for e in journal if e["item"] not in finished_before]
    assert half_done  # the kill caught items with answers paid for but not yet recorded
    assert sent_after == calls - len(journal)  # the rerun paid for none of the journaled answers
    assert sent_before - len(journal) <= 2  # only the calls in flight at the kill were lost (at most one per item)


def test_a_finished_or_deleted_output_leaves_no_answers_to_replay(tmp_path):
    out = tmp_path / "o.jsonl"
    with LoopbackServer(responder=answer_by_topic) as upstream:
        aligner = AsyncAligner(AsyncChatPolicy("m", base_url=upstream.base_url), ExactReference(),
                               optimizer=TemplateOptimizer(), options=SearchOptions(method="best_of_n"))
        for _ in range(2):  # the second run starts over after the output was deleted: it pays again
            asyncio.run(align_many(aligner, ITEMS[:2], output=out, budget_per_item=2, progress=False))
            assert not (tmp_path / "o.jsonl.answers.jsonl").exists()  # complete: the journal is gone
            out.unlink()
        assert len(upstream.requests) == 2 * 2 * 2
