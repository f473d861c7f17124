"""Per-user daily limits: the day's count, its reset, and the proxy refusing a user at the limit
while concurrent requests never overspend it."""

import asyncio
import json
import subprocess
import sys
import time

import openai
import pytest

from hia import InputError
from hia.serving import ProxyServer
from hia.serving.profiles import ProfileStore
from hia.serving.spend import DailyLimits, SpendLimitExceeded, utc_day
from tests.support.loopback import LoopbackServer

NOV_25_NOON = 1795608000.0  # 2026-11-25T12:00:00Z
MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_user_gets_its_daily_calls_then_a_refusal_that_says_when_it_resets(tmp_path):
    clock = Clock(NOV_25_NOON)
    with ProfileStore(tmp_path / "p.sqlite") as store:
        profile = store.set("ana", "verbosity=1", daily_calls=3)
        limits = DailyLimits(store, clock=clock)
        budget = limits.budget_for(profile)
        for _ in range(3):
            budget.reserve().commit()
        limits.record("ana", 3, 30)
        with pytest.raises(SpendLimitExceeded) as refused:
            limits.budget_for(profile)
        assert "2026-11-26T00:00:00Z" in str(refused.value) and refused.value.resets_at == NOV_25_NOON + 12 * 3600
        with pytest.raises(SpendLimitExceeded):  # a restart reads the day's spend back from the file
            DailyLimits(store, clock=clock).budget_for(profile)
        clock.now += 12 * 3600 + 1  # the next UTC day
        assert limits.budget_for(profile).remaining == 3
        raised = store.set("ana", "verbosity=1", daily_calls=5)
        clock.now = NOV_25_NOON  # back on the spent day, a raised limit leaves what it adds
        assert DailyLimits(store, clock=clock).budget_for(raised).remaining == 2


def test_a_token_limit_refuses_once_the_days_tokens_reach_it(tmp_path):
    with ProfileStore(tmp_path / "p.sqlite") as store:
        profile = store.set("bo", "verbosity=1", daily_tokens=100)
        limits = DailyLimits(store)
        assert limits.budget_for(profile) is None  # no call limit: nothing to reserve
        limits.record("bo", 1, 100)
        with pytest.raises(SpendLimitExceeded, match="100 tokens"):
            limits.budget_for(profile)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_a_limit_must_be_a_whole_number_of_at_least_one(tmp_path, bad):
    with ProfileStore(tmp_path / "p.sqlite") as store, pytest.raises(InputError, match="daily_calls"):
        store.set("ana", "verbosity=1", daily_calls=bad)


def test_concurrent_requests_at_the_limit_never_overspend_it_and_the_rest_get_429(tmp_path):
    with LoopbackServer(latency_s=0.2) as upstream, ProfileStore(tmp_path / "p.sqlite") as store:
        store.set("ana", "verbosity=1", budget=2, method="best_of_n", daily_calls=5)
        with ProxyServer(upstream_url=upstream.base_url, model="m", profiles=store) as p:
            async def one(i: int):
                c = openai.AsyncOpenAI(base_url=p.base_url, api_key="x", max_retries=0)
                try:
                    return await c.chat.completions.with_raw_response.create(model="m", messages=MESSAGES,
                                                                             max_tokens=3, user="ana")
                except openai.APIStatusError as exc:
                    return exc
                finally:
                    await c.close()

            async def burst():
                return await asyncio.gather(*(one(i) for i in range(8)))

            outcomes = asyncio.run(burst())
            refused = [o for o in outcomes if isinstance(o, openai.APIStatusError)]
            answered = [o for o in outcomes if not isinstance(o, openai.APIStatusError)]
            with pytest.raises(openai.RateLimitError) as later:  # the day is spent: even a plain request is refused
                openai.OpenAI(base_url=p.base_url, api_key="x", max_retries=0).chat.completions.create(
                    model="m", messages=MESSAGES, user="ana", max_tokens=3)
        spent = sum(int(a.headers["x-hia-policy-calls"]) for a in answered)
        assert len(upstream.requests) == spent == 5  # the whole day, and not one call more
        assert refused and all(r.status_code == 429 for r in refused)
        error = later.value.response.json()["error"]
        assert error["type"] == error["code"] == "budget_exceeded" and "resets at" in error["message"]
        assert int(later.value.response.headers["retry-after"]) > 0
        assert store.spent("ana", utc_day(time.time())).calls == 5  # recorded, so a restart keeps the count


def test_profiles_command_sets_a_limit_and_shows_the_days_spend(tmp_path):
    db = str(tmp_path / "p.sqlite")
    run = lambda *a: subprocess.run([sys.executable, "-m", "hia.cli", "profiles", "--db", db, *a],  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    assert run("set", "ana", "--goal", "verbosity=1", "--daily-calls", "40").returncode == 0
    with ProfileStore(db) as store:
        DailyLimits(store).record("ana", 7, 120)
    shown = json.loads(run("show", "ana").stdout)
    assert shown["daily_calls"] == 40 and shown["spent_today"]["calls"] == 7 and shown["spent_today"]["tokens"] == 120
    assert "7/40 calls today" in run("list").stdout
    bad = run("set", "ana", "--goal", "verbosity=1", "--daily-calls", "0")
    assert bad.returncode != 0 and "daily_calls" in bad.stderr


def test_a_streamed_request_past_the_limit_gets_a_429_not_a_stream(tmp_path):
    with LoopbackServer() as upstream, ProfileStore(tmp_path / "p.sqlite") as store:
        store.set("ana", "verbosity=1", budget=1, method="best_of_n", daily_calls=1)
        with ProxyServer(upstream_url=upstream.base_url, model="m", profiles=store) as p:
            client = openai.OpenAI(base_url=p.base_url, api_key="x", max_retries=0)
            assert client.chat.completions.create(model="m", messages=MESSAGES, user="ana", max_tokens=2).choices
            with pytest.raises(openai.RateLimitError):
                client.chat.completions.create(model="m", messages=MESSAGES, user="ana", max_tokens=2, stream=True)
        assert len(upstream.requests) == 1


def test_a_daily_token_limit_holds_under_60_concurrent_requests(tmp_path):
    # Each request may spend up to max_tokens=20 answer tokens and its prompt: before they were
    # held ahead, 60 requests at once were all answered, for 27 times the limit.
    limit = 200
    with LoopbackServer(latency_s=0.2) as upstream, ProfileStore(tmp_path / "p.sqlite") as store:
        store.set("bo", "verbosity=1", budget=1, method="best_of_n", daily_tokens=limit)
        with ProxyServer(upstream_url=upstream.base_url, model="m", profiles=store) as p:
            async def one(i: int) -> str:
                c = openai.AsyncOpenAI(base_url=p.base_url, api_key="x", max_retries=0)
                try:
                    await c.chat.completions.create(model="m", messages=MESSAGES, max_tokens=20, user="bo")
                    return "ok"
                except openai.RateLimitError as exc:
                    return exc.body["code"]
                finally:
                    await c.close()

            async def all_at_once() -> list[str]:
                return await asyncio.gather(*(one(i) for i in range(60)))

            outcomes = asyncio.run(all_at_once())
        spent = sum(len(str(m["content"]).split()) for r in upstream.requests for m in r["messages"]) + \
            sum(int(r["max_tokens"]) for r in upstream.requests)  # the loopback's token counts: words in, words out
        day = store.spent("bo", time.strftime("%Y-%m-%d", time.gmtime())).tokens
    assert outcomes.count("ok") == len(upstream.requests) >= 1
    assert set(outcomes) <= {"ok", "budget_exceeded"}
    assert day == spent <= limit  # held ahead: never over, whatever the concurrency
