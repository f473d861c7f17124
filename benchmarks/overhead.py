"""What the engine itself costs: overhead per alignment, and batch throughput against the ideal.

    .venv/bin/python benchmarks/overhead.py            # full: prints and writes benchmarks/results/overhead.json
    .venv/bin/python benchmarks/overhead.py --quick    # a smaller run (what the tests run)

The policy and the optimizer are loopback OpenAI-compatible servers with no model, each in its
own process (`python -m tests.support.loopback`): each answers after `--latency-ms`, in
parallel. The reference is the shipped attribute model, and HIA's filters use the real
embedding model on this machine's CPU.

(a) overhead_fraction: HIA alignments at budget 2 one at a time, with the pipeline hia builds by
    default (the template optimizer), after a first alignment that fills the embedding cache with
    the texts they share (its overhead is reported apart); the share of wall time spent on
    anything but waiting for the policy and optimizer calls (the `policy` and `optimize` stage timers, which include the
    openai client's own work on each call). `overhead_by_method` has best-of-N and HIA with an LLM
    optimizer (the second loopback server) too: its rewrites are new texts, which the filters
    must embed.
(b) throughput_fraction: `align_many` at each concurrency, per method, on the in-process engine
    (best-of-N and HIA with the default pipeline's template optimizer, and HIA with the LLM
    optimizer, `hia_llm`); items per second divided by the ideal the
    latency allows (concurrency / (round trips per item x latency)). throughput_vs_bare: the
    same, divided by what the bare openai.AsyncOpenAI client reaches in the same run, sending the
    same calls at the same concurrency the way the method sends them (an item's calls at once for
    best-of-N, one after another for HIA). Every run lasts at least MIN_RUN_S at the ideal rate. `ray_runs`: the same at the
    top concurrency on the Ray engine, a local cluster of `--ray-workers` workers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import math
import os
import platform
import pstats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from hia import AsyncAligner, RayOptions, align_many
from hia.build import Endpoint, Settings, build, build_policy
from hia.models.embeddings import shared_embedder

RESULTS = Path(__file__).resolve().parent / "results"
# The throughput runs: (search, optimizer, round trips per item one after another). Best-of-N is
# one round of parallel policy calls; HIA-greedy at budget 2 is two policy calls in turn, and with
# the LLM optimizer two rounds of (optimizer call, then policy call).
RUNS = {"best_of_n": ("best_of_n", "template", 1), "hia": ("hia", "template", 2), "hia_llm": ("hia", "llm", 4)}
MIN_RUN_S = 5.0  # each throughput run lasts at least this long at the ideal rate, so that it is stable


@contextlib.contextmanager
def loopback_process(latency_ms: float, responder: str) -> Iterator[str]:
    """A loopback server in its own process, as a real endpoint would be; yields its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.loopback", "--latency-ms", str(latency_ms),
                             "--responder", responder], stdout=subprocess.PIPE, text=True,
                            cwd=RESULTS.parents[1])  # the repository root, where tests.support lives
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


def aligner(policy_url: str, optimizer_url: str | None) -> AsyncAligner:
    """The pipeline hia builds for any caller; with an `optimizer_url`, an LLM optimizer there."""
    policy = build_policy(Endpoint(policy_url, "loopback"), blocking=False, max_tokens=64, max_retries=0)
    optimizer = Endpoint(optimizer_url, "loopback") if optimizer_url else None
    return build(Settings(optimizer=optimizer)).async_aligner(policy)


async def overhead(engine: AsyncAligner, method: str, items: int, budget: int, optimizer: str) -> dict:
    """The share of wall time that is not waiting, over `items` alignments after a first one.

    The first alignment of a process embeds the texts every later one shares (the rubric
    instructions, the heuristic's anchors) and fills the embedding cache, like loading a model:
    its overhead is reported on its own (`first_overhead_s`), not averaged in."""
    def cost(result: Any) -> tuple[float, float]:
        stages = result.usage.stage_seconds
        return result.usage.wall_seconds, stages["policy"] + stages["optimize"]

    first_wall, first_waiting = cost(await engine.align("How do I learn topic number one well?",
                                                        "verbosity=1,complexity=2", budget=budget, method=method))
    wall = waiting = 0.0
    for i in range(items):
        result = await engine.align(f"How do I learn topic number {i} well?", "verbosity=1,complexity=2",
                                    budget=budget, method=method)
        w, t = cost(result)
        wall, waiting = wall + w, waiting + t
    return {"method": method, "optimizer": optimizer, "budget": budget, "items": items, "wall_s": round(wall, 3),
            "waiting_s": round(waiting, 3), "overhead_fraction": round((wall - waiting) / wall, 4),
            "first_overhead_s": round(first_wall - first_waiting, 3)}


async def throughput(engine: AsyncAligner, run: str, concurrency: int, items: int, budget: int,
                     latency: float, round_trips: int, out: Path, ray: RayOptions | None = None) -> dict:
    method = RUNS[run][0]
    out.unlink(missing_ok=True)
    batch = [{"id": i, "prompt": f"How do I learn topic number {i} well?", "goal": "verbosity=1,complexity=2",
              "method": method} for i in range(items)]
    engine_name = "ray" if ray else "inprocess"
    start = time.perf_counter()
    report = await align_many(engine, batch, output=out, budget_per_item=budget, concurrency=concurrency,
                                     progress=False, engine=engine_name, ray=ray)
    # Starting the Ray workers (each loads its models) is paid once per batch, not per item: it
    # is reported beside the rate, not in it.
    seconds = time.perf_counter() - start - report.start_seconds
    ideal = concurrency / (round_trips * latency)
    measured = items / seconds
    return {"method": run, "search": method, "engine": engine_name, "concurrency": concurrency, "items": items,
            "failed": report.failed,
            "seconds": round(seconds, 3), "start_s": round(report.start_seconds, 3), "items_per_s": round(measured, 2), "ideal_items_per_s": round(ideal, 2),
            "throughput_fraction": round(measured / ideal, 4)}


def write_profile(profiler: cProfile.Profile, path: Path) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(30)
    out.write("\n\nhia's own code and what it calls beyond the HTTP client (embedding, scoring, journal):\n")
    full = pstats.Stats(profiler, stream=out)  # paths kept, to tell hia's modules from the libraries'
    full.sort_stats("cumulative").print_stats(r"/hia/(?!models/chat)|onnxruntime|numpy", 40)
    path.write_text(out.getvalue())
    print(f"wrote {path}")


async def bare(run: str, concurrency: int, items: int, latency: float, round_trips: int, policy_url: str,
               optimizer_url: str) -> dict:
    """The same calls at the same concurrency straight through openai.AsyncOpenAI, no hia: an item's
    two policy calls at once for best-of-N; for HIA, its calls one after another (with the LLM
    optimizer, an optimizer call before each policy call)."""
    import openai

    clients = {url: openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0) for url in (policy_url, optimizer_url)}
    messages = [{"role": "user", "content": "How do I learn this topic well?"}]

    async def call(url: str, seed: int) -> None:
        await clients[url].chat.completions.create(model="loopback", messages=messages, max_tokens=64, seed=seed)

    gate = asyncio.Semaphore(concurrency)
    with_optimizer = RUNS[run][1] == "llm"

    async def item(i: int) -> None:
        async with gate:
            if RUNS[run][0] == "best_of_n":
                await asyncio.gather(call(policy_url, i), call(policy_url, i + 1))
            else:
                for step in range(round_trips):
                    optimizing = with_optimizer and step % 2 == 0
                    await call(optimizer_url if optimizing else policy_url, i + step)

    start = time.perf_counter()
    await asyncio.gather(*(item(i) for i in range(items)))
    seconds = time.perf_counter() - start
    for client in clients.values():
        await client.close()
    ideal = concurrency / (round_trips * latency)
    return {"method": run, "engine": "bare openai client", "concurrency": concurrency, "items": items,
            "seconds": round(seconds, 3), "items_per_s": round(items / seconds, 2), "ideal_items_per_s": round(ideal, 2),
            "throughput_fraction": round(items / seconds / ideal, 4)}


def run_size(concurrency: int, round_trips: int, latency: float, quick: bool) -> int:
    """Items enough for a run to last at least MIN_RUN_S at the ideal rate (stable), and 4 per slot."""
    if quick:
        return max(8, 2 * concurrency)
    ideal = concurrency / (round_trips * latency)
    return max(16, 4 * concurrency, math.ceil(MIN_RUN_S * ideal))


async def main(args: argparse.Namespace) -> dict:
    latency = args.latency_ms / 1000
    shared_embedder().embed(["warm up the embedding model"])  # loading is not per-alignment work
    tmp = RESULTS / "overhead.jsonl.tmp"
    with loopback_process(args.latency_ms, "answer") as policy_url, \
            loopback_process(args.latency_ms, "rewrites") as optimizer_url:
        default, with_llm = aligner(policy_url, None), aligner(policy_url, optimizer_url)
        items = 3 if args.quick else 12
        per_method = [await overhead(default, "best_of_n", items, 2, "template"),
                      await overhead(default, "hia", items, 2, "template"),
                      await overhead(with_llm, "hia", items, 2, "llm")]
        levels = [1, 8] if args.quick else [1, 8, 32, 64]
        engines = {"template": default, "llm": with_llm}
        runs, bare_runs = [], []
        for run, (_, optimizer, trips) in RUNS.items():
            for c in levels:
                size = run_size(c, trips, latency, args.quick)
                bare_runs.append(await bare(run, c, size, latency, trips, policy_url, optimizer_url))
                runs.append(await throughput(engines[optimizer], run, c, size, 2, latency, trips, tmp))
                if args.profile and c == levels[-1]:
                    # a run of its own: the profiler's cost must not slow the measured one
                    profiler = cProfile.Profile()
                    profiler.enable()
                    await throughput(engines[optimizer], run, c, size, 2, latency, trips, tmp)
                    profiler.disable()
                    write_profile(profiler, args.profile.with_name(f"{args.profile.stem}_{run}{args.profile.suffix}"))
        top = levels[-1]
        ray = RayOptions(workers=args.ray_workers)
        ray_runs = [] if args.no_ray else [
            await throughput(engines[optimizer], run, top, run_size(top, trips, latency, args.quick), 2, latency,
                             trips, tmp, ray=ray) for run, (_, optimizer, trips) in RUNS.items()]
        tmp.unlink(missing_ok=True)
    hia_default = next(r for r in per_method if r["method"] == "hia" and r["optimizer"] == "template")
    return {
        "latency_ms": args.latency_ms,
        "overhead_fraction": hia_default["overhead_fraction"],
        "overhead_by_method": per_method,
        "throughput_engine": "inprocess",
        "throughput_fraction": {str(c): {r["method"]: r["throughput_fraction"] for r in runs if r["concurrency"] == c}
                                for c in levels},
        "throughput_runs": runs,
        # hia's items per second over the bare client's, same calls, same concurrency, same run
        "throughput_vs_bare": {str(c): {r["method"]: round(r["items_per_s"] / b["items_per_s"], 4)
                                        for r in runs for b in bare_runs
                                        if r["concurrency"] == b["concurrency"] == c and r["method"] == b["method"]}
                               for c in levels},
        "bare_runs": bare_runs,
        "min_run_s": None if args.quick else MIN_RUN_S,
        "ray_workers": None if args.no_ray else args.ray_workers,
        "ray_runs": ray_runs,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{platform.machine()}, {platform.system()}, {len(os.sched_getaffinity(0))} cores, no GPU",
        "quick": args.quick,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ray-workers", type=int, default=2, help="workers of the local Ray cluster (default 2)")
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray runs")
    parser.add_argument("--out", type=Path, default=RESULTS / "overhead.json")
    parser.add_argument("--profile", type=Path, help="profile the top-concurrency runs (cProfile, by cumulative and "
                                                       "own time) into this file, one per method")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    summary = asyncio.run(main(args))
    print(f"latency {summary['latency_ms']:g} ms; engine overhead, one alignment at a time:")
    for r in summary["overhead_by_method"]:
        print(f"  {r['method']:<10} {r['optimizer']:<8} optimizer, budget {r['budget']}: "
              f"{100 * r['overhead_fraction']:.2f}% of wall time ({r['items']} alignments, {r['wall_s']:.2f} s; "
              f"the first one before them: {1000 * r['first_overhead_s']:.0f} ms of overhead)")
    print("align_many throughput against the bare openai client (same calls, same concurrency):")
    for c, by_method in summary["throughput_vs_bare"].items():
        print(f"  concurrency {c:>2}: " + ", ".join(f"{m} {v:.2f}" for m, v in by_method.items()))
    print("align_many throughput as a fraction of the ideal:")
    for r in summary["throughput_runs"] + summary["ray_runs"]:
        started = f", workers started in {r['start_s']:.1f} s" if r["engine"] == "ray" else ""
        print(f"  {r['method']:<10} {r['engine']:<9} concurrency {r['concurrency']:>2}: {100 * r['throughput_fraction']:.1f}% "
              f"({r['items_per_s']} of {r['ideal_items_per_s']} items/s, {r['items']} items, {r['failed']} failed{started})")
    if not args.quick or args.out != RESULTS / "overhead.json":
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {args.out}")
