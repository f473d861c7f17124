"""Batch alignment: many (prompt, goal) items, concurrently, one JSONL record per item.

Each item's outcome is appended to the output file the moment it finishes (`"status": "ok"`
with the whole result, or `"status": "error"` with the typed error and any work already paid
for), and flushed, so a batch that is killed loses nothing that finished (`fsync=True` guards
against a machine crash as well). Run again with the same output file and it skips the items
already recorded. Every policy answer is also journaled the moment it arrives
(`<output>.answers.jsonl`, hia.engine.journal), before its item is finished: the rerun replays an
unfinished item's search, and the calls it had already paid for get their journaled answers
back instead of being paid again. What a kill does lose: the calls in flight at that moment
(sent, not yet answered), at most `concurrency` items' worth. One run at a time may write an
output file (an advisory lock refuses a second).

Two engines run the items: "inprocess" (this process's event loop) and "ray" (worker actors on
a Ray cluster, hia.engine.ray_runner). Both write the same records, resume the same way and keep the
same journal; they differ only in where an item's search runs (an ItemRunner).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from hia import _defaults as D
from hia.core.budget import Budget, whole_calls
from hia.engine.aligner import Aligner, AsyncAligner
from hia.engine.allocation import ItemState, allocate
from hia.engine.journal import AnswerJournal
from hia.engine.ray_runner import RayOptions
from hia.engine.runner import InProcessRunner, Item, ItemRunner, items_of
from hia.errors import InputError
from hia.storage.jsonl import JsonlWriter, read_jsonl

ENGINES = ("inprocess", "ray")


@dataclass
class BatchReport:
    done: int = 0  # finished in this run
    skipped: int = 0  # already in the output file
    failed: int = 0  # finished in this run with an error
    records: list[dict] = field(default_factory=list)  # this run's records, in finishing order
    start_seconds: float = 0.0  # starting the engine (the Ray engine's workers load their models)


def finished_ids(path: str | Path) -> set[str]:
    """Ids already recorded in a JSONL output (a torn last line from a kill is ignored)."""
    path = Path(path)
    done: set[str] = set()
    if not path.exists():
        return done
    for line in read_jsonl(path):
        if isinstance(line.value, dict) and "id" in line.value:
            done.add(str(line.value["id"]))  # a torn last line from a kill has none
    return done


async def align_many(aligner: AsyncAligner | Aligner, items: Iterable[Item | Mapping[str, Any]], *,
                     output: str | Path, budget_per_item: int | None = None, shared_budget: Budget | None = None,
                     total_budget: int | None = None, concurrency: int = D.BATCH_CONCURRENCY, progress: bool = True,
                     fsync: bool = False, engine: str = "inprocess", ray: RayOptions | None = None) -> BatchReport:
    """Align every item not yet in `output`, at most `concurrency` at a time.

    Each item may spend its own budget (`budget` in the item, else `budget_per_item`, else the
    aligner's default budget). With a `shared_budget` (a hia.Budget), that is an allowance drawn from it: the whole batch never spends more than
    the shared total, and no item can take another's share. An item that got no call at all is
    recorded as an error (BudgetExhausted), never as `ok`.

    With `total_budget`, the batch's calls are not split evenly but spent where they pay (see
    hia.engine.allocation): a first answer for every item, then more calls for the items still off
    their goal and improving. Each record then says how many calls its item got and why.

    `engine="ray"` runs the searches on Ray worker actors (`ray` gives the cluster address and
    the number of workers; see hia.engine.ray_runner); the budget stays here, in this process."""
    if isinstance(aligner, Aligner):
        aligner = aligner.asynchronous  # the batch runs on this event loop, not the blocking twin's
    if not isinstance(aligner, AsyncAligner):
        raise InputError(f"align_many aligns with a hia.AsyncAligner or hia.Aligner, got {type(aligner).__name__}")
    if budget_per_item is None:
        budget_per_item = aligner.options.budget
    if shared_budget is not None and not isinstance(shared_budget, Budget):
        raise InputError(f"shared_budget is one hia.Budget that every item draws from, got {shared_budget!r}; pass "
                         "shared_budget=hia.Budget(N) for N calls in all, or total_budget=N to spend them where they pay")
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if total_budget is not None:
        total_budget = whole_calls(total_budget, ceiling=None, what="total_budget")
        if shared_budget is not None:
            raise InputError("give total_budget (spent where it pays) or shared_budget (split evenly), not both")
    if isinstance(budget_per_item, Budget):
        raise InputError("budget_per_item is each item's allowance, a whole number; pass a Budget shared by the "
                         "whole batch as shared_budget=")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(f"concurrency must be a whole number of at least 1, got {concurrency!r}")
    whole_calls(budget_per_item, ceiling=aligner.max_budget, what="budget_per_item")
    todo_all = items_of(items)
    path = Path(output)
    fresh = not path.exists()
    writer = JsonlWriter(path, fsync)  # the lock first: no other run may be reading the same finished ids
    seen = finished_ids(path)
    todo = [item for item in todo_all if item.id not in seen]
    report = BatchReport(skipped=len(todo_all) - len(todo))
    gate = asyncio.Semaphore(concurrency)
    bar = None

    # Answers are journaled as they arrive, before their item is recorded: a rerun after a kill
    # replays them instead of paying again (hia.engine.journal).
    journal_path = path.with_name(path.name + ".answers.jsonl")
    if fresh:
        journal_path.unlink(missing_ok=True)  # answers of an output since deleted must not be replayed
    if not todo:  # nothing left to align: no engine to start (a Ray cluster takes seconds)
        writer.close()
        journal_path.unlink(missing_ok=True)
        return report
    runner: ItemRunner
    started = time.perf_counter()
    try:
        if engine == "ray":
            from hia.engine.ray_runner import RayRunner  # Ray itself is imported only when a batch uses it

            runner = RayRunner.start(aligner, journal_path, fsync, ray or RayOptions(), concurrency)
        else:
            runner = InProcessRunner(aligner, AnswerJournal(journal_path, fsync))
    except BaseException:
        writer.close()
        raise
    report.start_seconds = time.perf_counter() - started
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo_all), initial=report.skipped, unit="item", desc="aligning")

    def record(item: Item, result: Any, error: Exception | None, **extra: Any) -> None:
        entry: dict[str, Any] = {"id": item.id}
        if error is None and result is not None:
            entry.update(status="ok", result=result.to_dict())
        else:
            partial = getattr(error, "result", None)
            entry.update(status="error", error={"type": type(error).__name__, "message": str(error)},
                         result=partial.to_dict() if partial is not None else None)
            report.failed += 1
        entry.update(extra)
        writer.write(entry)
        report.records.append(entry)
        report.done += 1
        if bar is not None:
            bar.update(1)

    async def one(item: Item) -> None:
        async with gate:
            own = item.budget or budget_per_item
            try:
                if shared_budget is not None:
                    result = await runner.align(item, budget=shared_budget, allowance=own)
                else:
                    result = await runner.align(item, budget=own)
            except Exception as exc:  # noqa: BLE001 - every item gets an outcome, whatever went wrong
                record(item, None, exc)
                return
            record(item, result, None)

    def finished(state: ItemState) -> None:
        record(state.item, state.result, state.error, allocation={"calls": state.calls, "why": state.done})

    try:
        if total_budget is not None:
            await allocate(runner, todo, total_budget, finished, concurrency=concurrency)
        else:
            await asyncio.gather(*(one(item) for item in todo))
    finally:
        runner.close()
        writer.close()
        if report.done + report.skipped == len(todo_all):
            journal_path.unlink(missing_ok=True)  # every item is recorded: nothing left to replay
        if bar is not None:
            bar.close()
    return report
