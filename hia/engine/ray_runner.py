"""The Ray engine: batch items aligned by worker actors on a Ray cluster.

    hia batch items.jsonl --out out.jsonl --engine ray [--ray-address ADDR] [--workers 2]
    await hia.align_many(aligner, items, output="out.jsonl", engine="ray", ray=RayOptions(workers=2))

The calling process (the driver) keeps what must be in one place: the items, the output file
and its lock, resume by id, the progress bar, the allocation of a total budget, and the batch's
one budget. Before an item's search goes to a worker, the driver reserves the calls it may spend
(its allowance, or what is left of the shared budget); the worker searches under exactly that
many. When the search comes back, the calls it paid for are committed and the rest released.
So however many workers run, the cluster cannot spend more than the budget.

The workers share two actors:
- the answer journal (hia.engine.journal): every answer a worker pays for is written to
  `<output>.answers.jsonl` by the journal actor, on the driver's machine, before the search goes
  on, so it is kept whatever happens to the worker next;
- the policy's rate limiter (hia.models.ratelimit), when the policy has one: every worker takes its send
  slots and admissions from it, so the cluster keeps to the rate, not to the rate times the workers
  (with RayOptions.redis the limiter lives in Redis instead, hia.models.shared_ratelimit).

A worker tells the journal actor about each call before it sends it. So when a worker dies
(killed, out of memory, its machine gone) the driver knows what each of its items spent: the
calls sent, answered or still in flight (the provider may bill those), stay spent; what was
reserved and not sent goes back to the budget. Ray restarts the worker, and the items are sent
again, to whichever worker is least busy: their replayed searches get the journaled answers back
instead of paying again, and an item never sends more calls than were reserved for it. An item
whose workers die RAY_ITEM_ATTEMPTS times is recorded with WorkerLost; its paid answers stay in
the journal for a rerun.

Workers make their aligner from the driver's aligner's recipe (made by hia.build from its
Settings and the policy's PolicySpec), never from pickled clients. The API keys in it travel in
the actors' constructor arguments, in memory: the specs' reprs hide them, so no Ray log shows them. Attributes registered with
`register_attribute` in the driver are unknown to workers; built-in ones work everywhere.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hia import _defaults as D
from hia import errors as hia_errors
from hia.core.budget import Budget, whole_calls
from hia.core.results import AlignmentResult
from hia.core.usage import Usage
from hia.engine.aligner import AlignerRecipe
from hia.engine.journal import AnswerJournal, journaled_policy
from hia.errors import BudgetExhausted, HiaError, InputError, MissingExtra, WorkerLost
from hia.models.chat import ChatReply, Message
from hia.models.ratelimit import Pace, RateLimiter

_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9.\-_\[\]:]+:\d{1,5}$")


@dataclass(frozen=True)
class RayOptions:
    """Where the Ray engine runs. `address=None` starts a local cluster with this machine's cores
    (or joins the one RAY_ADDRESS names); "auto" or "ray://host:10001" joins a running one. With
    `redis`, the policy's rate limit is kept in that Redis instead of an actor, so this batch shares
    it with proxy replicas and other batches that name the same Redis."""

    address: str | None = None
    workers: int = D.RAY_WORKERS
    worker_cpus: float = D.RAY_WORKER_CPUS  # CPUs Ray sets aside for each worker actor
    redis: str | None = None  # a Redis URL: the workers share the rate limit there (with every process naming it)

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise InputError(f"workers must be a whole number of at least 1, got {self.workers!r}")
        if self.address is not None and not (self.address in ("auto", "local") or _ADDRESS.match(str(self.address))):
            raise InputError(f"a Ray address is 'auto', 'local', host:port or ray://host:port, got {self.address!r}")
        if self.address is None and not os.environ.get("RAY_ADDRESS"):
            cores = os.cpu_count() or 1
            if self.workers > D.RAY_MAX_LOCAL_WORKERS_PER_CORE * cores:
                raise InputError(f"{self.workers} workers on a local cluster of {cores} cores: each loads its own models "
                                 f"(about 0.5 GB), and more than {D.RAY_MAX_LOCAL_WORKERS_PER_CORE} per core only "
                                 "compete for them; use fewer, or join a larger cluster with --ray-address")


@dataclass
class _Outcome:
    """What a worker sends back for one item: the result (or the partial one), the answers it paid
    for, and the error by name (exceptions do not always survive pickling)."""

    result: AlignmentResult | None
    spent: int  # new calls that got an answer
    error: tuple[str, str] | None = None

    def unwrap(self) -> AlignmentResult:
        if self.error is None:
            assert self.result is not None
            return self.result
        name, message = self.error
        kind = getattr(hia_errors, name, None)
        exc = kind(message) if isinstance(kind, type) and issubclass(kind, HiaError) else HiaError(f"{name}: {message}")
        exc.result = self.result
        raise exc


# -- the actors (plain classes here; ray.remote wraps them when a cluster starts) ------------------------

class _JournalKeeper:
    """The cluster's one answer journal, on the driver's machine, and the count of calls each
    dispatch of an item has sent: a worker reports a call before it sends it, so when the worker
    dies the calls it had in flight (which the provider may bill) count as spent, not released."""

    def __init__(self, path: str, fsync: bool) -> None:
        self._journal = AnswerJournal(path, fsync)
        self._sent: Counter[str] = Counter()  # calls sent per dispatch ("lease:attempt"), less those that failed

    def answers_for(self, item: str) -> dict[str, dict]:
        return self._journal.answers_for(item)

    def items(self) -> list[str]:
        """The items with journaled answers (from an earlier run)."""
        return self._journal.items()

    def sending(self, dispatch: str) -> None:
        self._sent[dispatch] += 1

    def failed(self, dispatch: str) -> None:
        self._sent[dispatch] -= 1

    def add(self, entry: dict) -> None:
        self._journal.add(entry)

    def spent(self, dispatch: str) -> int:
        return self._sent.pop(dispatch, 0)

    def forget(self, dispatch: str) -> None:
        self._sent.pop(dispatch, None)

    def close(self) -> None:
        self._journal.close()


class _SharedRateLimiter:
    """One RateLimiter for every worker: each asks it for a send slot and waits for it locally."""

    def __init__(self, per_second: float) -> None:
        self._limiter = RateLimiter(per_second)

    def claim(self) -> float:
        return self._limiter.claim()

    def admit(self, handed_back: str | None) -> tuple[float, str]:
        return self._limiter.admit(handed_back)


class _RemotePace(Pace):
    """The endpoint's rate limiter inside a worker: slots and admissions from the shared actor."""

    def __init__(self, actor: Any, per_second: float) -> None:
        self._actor = actor
        self.per_second = per_second

    async def _claim(self) -> float:
        return await self._actor.claim.remote()

    async def _admit(self, handed_back: str | None) -> tuple[float, str]:
        return await self._actor.admit.remote(handed_back)


class _Worker:
    """Aligns items sent by the driver, many at once on its event loop, with its own clients."""

    def __init__(self, recipe: AlignerRecipe, journal: str, limiter: str | None, redis: str | None = None) -> None:
        import ray

        from hia.models.embeddings import preload

        # The shared actors are found by name: handles passed as arguments would live in the object
        # store, and a restarted worker could find them gone.
        self._journal = ray.get_actor(journal)
        pace: Pace | None = None
        if redis and recipe.rate_limit:
            from hia.models.shared_ratelimit import RedisRateLimiter
            from hia.storage.redis_store import RedisStore

            pace = RedisRateLimiter(RedisStore(redis), recipe.rate_limit_name, recipe.rate_limit)
        elif limiter and recipe.rate_limit:
            pace = _RemotePace(ray.get_actor(limiter), recipe.rate_limit)
        self._aligner = recipe(pace)
        preload()  # HIA's filters need the embedding model: load it before the first item arrives

    def pid(self) -> int:
        return os.getpid()

    async def align(self, item: Any, calls: int, resume: AlignmentResult | None, dispatch: str,
                    spent_before: int, replay: bool) -> _Outcome:
        answers = await self._journal.answers_for.remote(item.id) if replay else {}
        base = self._aligner.policy_fn
        spent = 0

        async def within_reservation(messages: Sequence[Message], seed: int, usage: Usage) -> ChatReply:
            # Replays of the journal (journaled_policy) come back before this, free. New calls stop
            # at what the driver reserved, counting what earlier dispatches of this item, on a
            # worker that died, spent.
            nonlocal spent
            if spent_before + spent >= calls:
                raise BudgetExhausted(f"the {calls} calls reserved for item {item.id} are spent")
            spent += 1
            await self._journal.sending.remote(dispatch)  # counted before it is sent: a death cannot hide it
            try:
                return await base(messages, seed, usage)
            except BaseException:
                spent -= 1
                self._journal.failed.remote(dispatch)  # no answer, nothing billed: the unit goes back
                raise

        async def keep(entry: dict) -> None:
            await self._journal.add.remote(entry)

        policy = journaled_policy(item.id, within_reservation, answers, keep)
        try:
            result = await self._aligner.align(item.prompt, item.goal, method=item.method, budget=calls,
                                               resume=resume, policy=policy)
        except HiaError as exc:
            return _Outcome(exc.result, spent, (type(exc).__name__, str(exc)))
        return _Outcome(result, spent)


# -- the driver's side ------------------------------------------------------------------------------

class RayRunner:
    """Sends batch items to worker actors; holds the budget; replaces what a dead worker lost."""

    def __init__(self, workers: list[Any], journal: Any, helpers: list[Any], max_budget: int,
                 started_cluster: bool, journaled: set[str]) -> None:
        self._workers = workers
        self._journaled = journaled  # items with answers from an earlier run: their workers replay them
        self._load = [0] * len(workers)  # items in flight per worker
        self._journal = journal
        self._helpers = helpers
        self.max_budget = max_budget
        self._started_cluster = started_cluster

    @classmethod
    def start(cls, aligner: Any, journal_path: Path, fsync: bool, options: RayOptions,
              concurrency: int) -> "RayRunner":
        recipe = aligner.recipe
        if recipe is None:
            raise InputError(
                "engine='ray' makes the same aligner on every worker from its recipe, and this aligner has none: make "
                "it with hia.build(Settings(...)).async_aligner(policy) (or .aligner), on a ChatPolicy or "
                "AsyncChatPolicy made with base_url= and api_key= (a Python callable, or a policy on an openai "
                "client object, cannot be made again on another machine)")
        try:
            import ray
        except ImportError:
            raise InputError("engine='ray' needs Ray: pip install 'hia[ray]'") from None
        started = not ray.is_initialized()
        if started:
            local = options.address is None and not os.environ.get("RAY_ADDRESS")
            try:
                ray.init(address=options.address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                         **({"num_cpus": max(os.cpu_count() or 1, int(options.workers * options.worker_cpus))}
                            if local else {}))
            except ValueError as exc:
                if "ray[client]" in str(exc):
                    raise MissingExtra(f"joining {options.address} goes through Ray Client, which needs more than "
                                       "Ray itself: pip install 'ray[client]'") from None
                raise InputError(f"Ray refused the address {options.address!r}: {exc}") from None
            except (ConnectionError, SystemExit) as exc:  # Ray exits when a cluster's control store never answers
                raise InputError(f"no Ray cluster answered at {options.address or os.environ.get('RAY_ADDRESS')} "
                                 f"({type(exc).__name__}); start one there with `ray start --head`, or leave the "
                                 "address out for a local cluster") from None
        try:
            return cls._start_actors(ray, recipe, journal_path, fsync, options, concurrency, aligner.max_budget,
                                     started)
        except BaseException:
            if started:
                ray.shutdown()
            raise

    @classmethod
    def _start_actors(cls, ray: Any, recipe: AlignerRecipe, journal_path: Path, fsync: bool,
                      options: RayOptions, concurrency: int, max_budget: int, started: bool) -> "RayRunner":
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        run = uuid.uuid4().hex[:12]
        journal_name = f"hia-journal-{run}"
        limiter_name = f"hia-rate-limiter-{run}" if recipe.rate_limit and not options.redis else None
        journal = ray.remote(_JournalKeeper).options(name=journal_name, num_cpus=0, scheduling_strategy=here).remote(
            str(journal_path), fsync)
        helpers = [journal]
        if limiter_name:
            helpers.append(ray.remote(_SharedRateLimiter).options(name=limiter_name, num_cpus=0).remote(recipe.rate_limit))
        worker_class = ray.remote(_Worker).options(num_cpus=options.worker_cpus, max_restarts=-1, max_task_retries=0,
                                                   max_concurrency=max(concurrency, 1))
        workers = [worker_class.remote(recipe, journal_name, limiter_name, options.redis) for _ in range(options.workers)]
        ray.get([w.pid.remote() for w in workers], timeout=D.RAY_START_TIMEOUT_S)  # each has built its pipeline
        return cls(workers, journal, helpers, max_budget, started, set(ray.get(journal.items.remote())))

    async def align(self, item: Any, *, budget: int | Budget, allowance: int | None = None,
                    resume: AlignmentResult | None = None) -> AlignmentResult:
        from ray.exceptions import RayActorError

        held = []
        if isinstance(budget, Budget):
            wanted = whole_calls(D.DEFAULT_BUDGET if allowance is None else allowance, ceiling=self.max_budget,
                                 what="allowance")
            while len(held) < wanted and (reservation := budget.try_reserve()) is not None:
                held.append(reservation)
            if not held:
                raise BudgetExhausted("no policy call could be made (the shared budget has none left); nothing was "
                                      "answered")
            calls = len(held)
        else:
            calls = whole_calls(budget, ceiling=self.max_budget)
        lease = uuid.uuid4().hex
        spent = 0
        try:
            for attempt in range(D.RAY_ITEM_ATTEMPTS):
                slot = min(range(len(self._workers)), key=self._load.__getitem__)
                dispatch = f"{lease}:{attempt}"
                self._load[slot] += 1
                try:
                    replay = attempt > 0 or item.id in self._journaled
                    outcome = await self._workers[slot].align.remote(item, calls, resume, dispatch, spent, replay)
                except RayActorError:
                    # The worker died with the item. Its answers are in the journal, for the next
                    # dispatch to replay; its calls sent, answered or in flight, stay spent.
                    spent += await self._journal.spent.remote(dispatch)
                    continue
                finally:
                    self._load[slot] -= 1
                self._journal.forget.remote(dispatch)
                spent += outcome.spent
                return outcome.unwrap()
            raise WorkerLost(f"the workers aligning item {item.id} died {D.RAY_ITEM_ATTEMPTS} times; the answers they "
                             "had paid for are journaled, and a rerun replays them")
        finally:
            for i, reservation in enumerate(held):
                reservation.commit() if i < spent else reservation.release()

    def close(self) -> None:
        import ray

        try:
            ray.get(self._journal.close.remote(), timeout=30)
        finally:
            for actor in [*self._workers, *self._helpers]:
                ray.kill(actor)
            if self._started_cluster:
                ray.shutdown()
