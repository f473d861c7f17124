"""Replicas that share limits through a real redis-server: two `hia serve` processes in front of
one upstream, driven concurrently with the official openai client."""

import asyncio
import os
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from hia import Budget, SharedStateUnavailable
from hia.serving.profiles import ProfileStore
from hia.serving.shared_spend import RedisBudget
from hia.storage.redis_store import RedisStore
from tests.support.loopback import LoopbackServer
from tests.support.redis_server import free_port

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


class Replica:
    """One `hia serve` process."""

    def __init__(self, upstream: LoopbackServer, redis_url: str, profiles: str, *extra: str) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "hia.cli", "serve", "--upstream", upstream.base_url, "--model", "m",
                   "--port", str(self.port), "--profiles", profiles, "--redis", redis_url, "--reference", "exact",
                   "--method", "best_of_n", *extra]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        env={**os.environ, "OPENAI_API_KEY": ""})
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1):
                    break
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read().decode()
                assert time.monotonic() < deadline, "the replica did not start"
                time.sleep(0.2)

    @property
    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}/v1", api_key="unused", max_retries=0)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def replicas(redis_server, tmp_path, request):
    extra = getattr(request, "param", ())
    profiles = tmp_path / "profiles.sqlite"
    with ProfileStore(profiles) as store:
        store.set("ana", "verbosity=1", budget=1, method="best_of_n", daily_calls=5)
    with LoopbackServer(latency_s=0.05) as upstream:
        started = [Replica(upstream, redis_server.url, str(profiles), *extra) for _ in range(2)]
        try:
            yield started, upstream
        finally:
            for replica in started:
                replica.stop()


def outcome(call) -> str:
    try:
        call()
        return "ok"
    except openai.RateLimitError as exc:
        return exc.body["code"] if isinstance(exc.body, dict) else "429"
    except openai.APIStatusError as exc:
        return f"{exc.status_code} {exc.body.get('code') if isinstance(exc.body, dict) else ''}"


def test_two_replicas_spend_a_users_daily_limit_exactly_once(replicas):
    (one, two), upstream = replicas
    clients = [one.client, two.client]

    def ask(i: int) -> str:
        return outcome(lambda: clients[i % 2].chat.completions.create(model="m", messages=MESSAGES, max_tokens=4,
                                                                       user="ana"))

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(ask, range(16)))
    assert len(upstream.requests) == 5  # the limit, across both replicas, however the requests raced
    assert outcomes.count("ok") == 5 and outcomes.count("budget_exceeded") == 11


@pytest.mark.parametrize("replicas", [("--rate-limit", "20")], indirect=True)
def test_a_rate_limit_holds_across_replicas(replicas):
    (one, two), upstream = replicas
    clients = [one.client, two.client]

    def ask(i: int) -> str:  # passed through: no goal
        return outcome(lambda: clients[i % 2].chat.completions.create(model="m", messages=MESSAGES, max_tokens=2))

    with ThreadPoolExecutor(32) as pool:
        outcomes = list(pool.map(ask, range(60)))
    assert outcomes == ["ok"] * 60
    arrivals = sorted(upstream.arrivals)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= 20  # one rate for both replicas; each pacing alone would let 40 through
    assert arrivals[-1] - arrivals[0] >= 0.9 * 59 / 20


@pytest.mark.parametrize("replicas", [("--rate-limit", "50")], indirect=True)
def test_redis_stopped_mid_run_gives_typed_503s_and_no_unmetered_call(replicas, redis_server):
    (one, two), upstream = replicas
    ok = one.client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=3, user="ana")
    assert ok.choices[0].message.content and len(upstream.requests) == 1
    redis_server.stop()
    before = len(upstream.requests)
    asks = [{"user": "ana"},  # a limited user
            {"extra_body": {"goal": "verbosity=1", "budget": 1}},  # aligned, paced by the shared rate
            {}]  # passed through, paced too
    for replica in (one, two):
        for kwargs in asks:
            with pytest.raises(openai.APIStatusError) as info:
                replica.client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=3, **kwargs)
            assert info.value.status_code == 503 and info.value.body["code"] == "shared_state_unavailable", kwargs
            assert "Redis" in info.value.body["message"] and info.value.response.headers["Retry-After"]
    assert len(upstream.requests) == before  # nothing went out unmetered


def test_a_reservation_that_is_never_settled_is_freed_when_its_lease_ends(redis_server):
    store = RedisStore(redis_server.url, prefix="t1")
    day = RedisBudget(store, "bo", "2026-12-02", 2, lease_s=0.3)
    held = [day.try_reserve(), day.try_reserve()]
    assert all(held) and day.try_reserve() is None and day.remaining == 0  # a replica died holding both
    time.sleep(0.4)
    assert day.remaining == 2
    again = day.try_reserve()
    again.commit()
    held[0].commit()  # a call that returned after its lease ran out is still counted: it was paid
    assert day.used == 2 and day.remaining == 0


def test_an_allowance_drawn_from_a_redis_day_never_overspends_under_threads(redis_server):
    store = RedisStore(redis_server.url, prefix="t2")
    day = RedisBudget(store, "cy", "2026-12-02", 7)
    taken: list[object] = []
    lock = threading.Lock()

    def take() -> None:
        allowance = Budget(3, parent=day)  # as each alignment draws from its user's day
        while (r := allowance.try_reserve()) is not None:
            with lock:
                taken.append(r)
            r.commit()

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 7 and day.used == 7 and day.reserved == 0


def test_an_unreachable_redis_is_a_typed_error_that_hides_the_password():
    store = RedisStore(f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0", timeout_s=0.5)
    with pytest.raises(SharedStateUnavailable) as info:
        store.check()
    assert "s3cret" not in str(info.value) and "127.0.0.1" in str(info.value)

    async def remote() -> None:
        from hia.models.shared_ratelimit import RedisRateLimiter

        await RedisRateLimiter(store, "e", 5).wait()

    with pytest.raises(SharedStateUnavailable):
        asyncio.run(remote())


def test_token_holds_in_redis_are_shared_by_every_replica(redis_server, tmp_path):
    from hia.serving.shared_spend import RedisDailyLimits
    from hia.serving.spend import SpendLimitExceeded

    with ProfileStore(tmp_path / "a.sqlite") as a, ProfileStore(tmp_path / "b.sqlite") as b:
        profile = a.set("di", "verbosity=1", daily_tokens=200)
        b.set("di", "verbosity=1", daily_tokens=200)
        one, two = RedisDailyLimits(a, RedisStore(redis_server.url)), RedisDailyLimits(b, RedisStore(redis_server.url))
        release = one.hold_tokens(profile, 150)
        with pytest.raises(SpendLimitExceeded, match="200 tokens"):
            two.hold_tokens(profile, 100)  # another replica sees the hold
        one.record("di", 1, 120)
        release()
        two.hold_tokens(profile, 80)()  # 120 spent + 80 fits
        with pytest.raises(SpendLimitExceeded):
            two.hold_tokens(profile, 81)
