"""The Ray engine on a real local Ray cluster (started here), against the fault-injecting loopback
upstream: one budget for every worker, one record per item, nothing paid for lost when a worker
is killed, a shared rate limit, and a rerun after a killed driver that pays for nothing twice."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import ray

from hia import Budget, ChatPolicy, InputError, RateLimiter, RayOptions, SearchOptions, align_many
from hia.build import Settings, build
from tests.support.loopback import Faults, LoopbackServer
from tests.support.processes import kill_when

KEY = "sk-planted-ray-secret-0123456789abcdef"
# 30% of requests misbehave: 429s, 500s, dropped connections, garbled bodies and hangs.
FAULTS = Faults(rate_limit=0.08, server_error=0.08, reset=0.05, malformed=0.05, hang=0.04, hang_s=2.5,
                retry_after_s=0.02)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def items(n: int) -> list[dict]:
    return [{"id": f"q{i}", "prompt": f"How do I keep plant {i} alive?", "goal": "verbosity=1"} for i in range(n)]


def policy(upstream: LoopbackServer, **kw) -> ChatPolicy:
    options = {"max_tokens": 16, "timeout": 2.0, "max_retries": 10, "retry_initial_wait": 0.01,
               "retry_max_wait": 0.05, **kw}
    return ChatPolicy("m", base_url=upstream.base_url, api_key=KEY, **options)


def worker_pids() -> list[int]:
    """Processes of the engine's worker actors (Ray titles them after the actor class)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"ray::_Worker" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue  # gone meanwhile
    return pids


def records_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_cluster_under_faults_never_overspends_and_a_killed_worker_loses_nothing(cluster, tmp_path):
    total, n = 200, 120  # 120 items would take 240 calls at 2 each: the shared budget binds
    out = tmp_path / "out.jsonl"
    killed: list[int] = []

    def kill_a_worker_mid_run() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            if out.exists() and len(out.read_text().splitlines()) >= 30 and (pids := worker_pids()):
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    with LoopbackServer(latency_s=0.05, faults=FAULTS, api_key=KEY, seed=3) as upstream:
        shared = Budget(total)
        with build(Settings(reference="exact", search=SearchOptions(method="hia"))) as pipeline, policy(upstream) as chat, \
                pipeline.aligner(chat) as aligner:
            killer = threading.Thread(target=kill_a_worker_mid_run)
            killer.start()
            report = asyncio.run(align_many(aligner, items(n), output=out, budget_per_item=2, shared_budget=shared,
                                        concurrency=16, engine="ray", ray=RayOptions(workers=2), progress=False))
            killer.join()
        answered = [(r["messages"][-1]["content"], r["seed"]) for r in upstream.answered]
    assert killed, "no worker was killed mid-run"
    faults = len(upstream.requests) - upstream.outcomes["ok"]
    assert 0.2 < faults / len(upstream.requests) < 0.4  # about 30% of the requests misbehaved

    records = records_of(out)
    assert sorted(r["id"] for r in records) == sorted(i["id"] for i in items(n))  # exactly one record each
    assert report.done == n
    # Never overspent, across every worker: the upstream answered at most the total.
    assert len(answered) <= total and shared.used <= total and shared.reserved == 0
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) >= 90 and all(r["error"]["type"] == "BudgetExhausted" for r in records if r["status"] != "ok")
    # Every answer the upstream delivered is in a record, and none was paid for twice, but for the
    # calls in flight on the killed worker (lost, or sent again by the item's next dispatch).
    kept = {(c["prompt"], c["evaluation"]["seed"]) for r in ok for c in r["result"]["candidates"] if c["evaluation"]}
    lost, twice = set(answered) - kept, len(answered) - len(set(answered))
    print(f"in flight at the kill: {len(lost)} answers lost, {twice} paid again")
    assert len(lost) + twice <= 16
    assert not (tmp_path / "out.jsonl.answers.jsonl").exists()  # every item recorded: the journal is gone

    # The key reached the workers (the upstream checks it) and no Ray log holds it.
    session = Path(ray._private.worker._global_node.get_session_dir_path())
    for path in session.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert KEY.encode() not in path.read_bytes(), f"the API key is in {path}"


@pytest.mark.parametrize("kept_in", ["actor", "redis"])
def test_the_rate_limit_is_shared_by_every_worker(cluster, tmp_path, request, kept_in):
    rate = 20.0
    redis = request.getfixturevalue("redis_server").url if kept_in == "redis" else None
    with LoopbackServer(latency_s=0.01, api_key=KEY) as upstream:
        with build(Settings(reference="exact", search=SearchOptions(method="best_of_n"))) as pipeline, \
                policy(upstream, rate_limiter=RateLimiter(rate)) as chat, pipeline.aligner(chat) as aligner:
            report = asyncio.run(align_many(aligner, items(24), output=tmp_path / "o.jsonl", budget_per_item=2, concurrency=24,
                                        engine="ray", ray=RayOptions(workers=2, redis=redis), progress=False))
        arrivals = sorted(upstream.arrivals)
    assert report.failed == 0 and len(arrivals) == 48
    # 48 requests at 20 per second take 2.35 s however many workers send them; two workers each
    # with a limiter of its own would take half that. (The spacing's slack: a worker whose event
    # loop stalls can send two requests close together, but never more than the rate in a second.)
    assert arrivals[-1] - arrivals[0] >= 0.9 * (len(arrivals) - 1) / rate
    # Strict at the upstream: an admission whose answer from the actor came back late is handed
    # back and asked again, so no request goes out long after it was counted.
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= rate
    if redis:  # the workers kept the window in Redis, not in an actor
        from hia.storage.redis_store import RedisStore

        assert RedisStore(redis).client.keys("hia:rate:*:sent")


def test_a_rerun_after_a_killed_driver_pays_for_no_answer_twice(cluster, tmp_path):
    batch = tmp_path / "items.jsonl"
    batch.write_text("".join(json.dumps(i) + "\n" for i in items(12)))
    out = tmp_path / "o.jsonl"
    # greedy makes an item's calls one after another, so a kill catches items half done
    command = [sys.executable, "-m", "hia.cli", "batch", str(batch), "--out", str(out), "--method", "greedy",
               "--reference", "exact", "--budget", "3", "--concurrency", "4", "--model", "m", "--engine", "ray",
               "--ray-address", cluster, "--workers", "2"]
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    with LoopbackServer(latency_s=0.3, api_key=KEY) as upstream:
        first = subprocess.Popen([*command, "--base-url", upstream.base_url], env=env, stderr=subprocess.DEVNULL)
        kill_when(first, lambda: len(upstream.answered) >= 10, timeout_s=240)
        time.sleep(1.0)  # the journal actor dies with its driver; what it wrote is on disk
        answered_before = len(upstream.answered)
        finished_before = {r["id"] for r in records_of(out)} if out.exists() else set()
        journal = [json.loads(line) for line in (tmp_path / "o.jsonl.answers.jsonl").read_text().splitlines()
                   if line.strip()]
        rerun = subprocess.run([*command, "--base-url", upstream.base_url], env=env, capture_output=True, text=True,
                               timeout=300)
        answered_after = len(upstream.answered) - answered_before
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    records = records_of(out)
    assert sorted(r["id"] for r in records) == sorted(i["id"] for i in items(12))
    assert all(r["status"] == "ok" for r in records)
    assert [e for e in journal if e["item"] not in finished_before]  # the kill caught items half done
    calls = sum(r["result"]["usage"]["policy_calls"] for r in records)  # replayed answers count once, as paid
    assert answered_after == calls - len(journal)  # the rerun paid for none of the journaled answers
    assert answered_before - len(journal) <= 4  # only calls in flight at the kill were lost (one per item at most)


def test_an_item_whose_workers_keep_dying_is_recorded_as_worker_lost(cluster, tmp_path):
    out = tmp_path / "o.jsonl"
    kills = []
    done = threading.Event()

    def kill_whoever_sends() -> None:
        # Each time the item's call reaches the upstream, every worker is killed.
        while not done.is_set():
            if len(upstream.requests) > len(kills):
                for pid in worker_pids():
                    os.kill(pid, signal.SIGKILL)
                kills.append(len(upstream.requests))
            time.sleep(0.05)

    with LoopbackServer(latency_s=60, api_key=KEY) as upstream:
        shared = Budget(3)
        with build(Settings(reference="exact", search=SearchOptions(method="greedy"))) as pipeline, policy(upstream, timeout=120) as chat, \
                pipeline.aligner(chat) as aligner:
            killer = threading.Thread(target=kill_whoever_sends)
            killer.start()
            try:
                asyncio.run(align_many(aligner, items(1), output=out, budget_per_item=3, shared_budget=shared, engine="ray",
                                   ray=RayOptions(workers=2), progress=False))
            finally:
                done.set()
                killer.join()
    [record] = records_of(out)
    assert record["status"] == "error" and record["error"]["type"] == "WorkerLost"
    # Each of the item's dispatches either sent its call (and its worker was killed) or died with a
    # worker that was still restarting, which on a loaded machine can be every one after the first.
    assert len(kills) >= 1
    # Every call that was sent may be billed: each counts as spent, whatever became of its worker.
    assert 1 <= len(upstream.requests) <= shared.used <= 3 and shared.reserved == 0


def test_bad_engine_options_are_refused_before_any_call(tmp_path, monkeypatch):
    from hia import AsyncAligner, ExactReference

    with LoopbackServer() as upstream:
        with build(Settings(reference="exact")) as pipeline, policy(upstream) as chat, pipeline.aligner(chat) as aligner:
            with pytest.raises(InputError, match="unknown engine"):
                asyncio.run(align_many(aligner, items(2), output=tmp_path / "a.jsonl", engine="spark", progress=False))
            with monkeypatch.context() as without_ray:
                without_ray.setitem(sys.modules, "ray", None)  # as if the ray extra were not installed
                with pytest.raises(InputError, match=r"hia\[ray\]"):
                    asyncio.run(align_many(aligner, items(2), output=tmp_path / "e.jsonl", engine="ray", progress=False))
        with build(Settings(reference="exact")) as pipeline:
            callable_policy = pipeline.aligner(lambda prompt: "an answer")
            with pytest.raises(InputError, match="callable"):
                asyncio.run(align_many(callable_policy, items(2), output=tmp_path / "b.jsonl", engine="ray", progress=False))
        hand_made = AsyncAligner(lambda prompt: "an answer", ExactReference())
        with pytest.raises(InputError, match="Settings"):
            asyncio.run(align_many(hand_made, items(2), output=tmp_path / "d.jsonl", engine="ray", progress=False))
        assert upstream.requests == []
    with pytest.raises(InputError, match="workers"):
        RayOptions(workers=0)
    for rate in (0, -1.0, float("nan"), True):
        with pytest.raises(InputError, match="rate limit"):
            RateLimiter(rate)
    run = subprocess.run([sys.executable, "-m", "hia.cli", "batch", str(tmp_path / "none.jsonl"), "--out",
                          str(tmp_path / "c.jsonl"), "--workers", "3", "--base-url", "http://127.0.0.1:9/v1",
                          "--model", "m"], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "--engine ray" in run.stderr
