"""Nothing unbounded, nothing leaked: the ceiling on every budget, allowances from a shared budget,
no silent success without a call, and no key in any error an upstream provokes."""

import asyncio
import json
import logging
import math
import os
import subprocess
import sys

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hia
from hia import (
    AsyncAligner,
    AsyncChatPolicy,
    Budget,
    BudgetExhausted,
    InputError,
    TemplateOptimizer,
    align_many,
)
from hia import _defaults as D
from hia.core.budget import whole_calls
from hia.errors import redact
from tests.support.loopback import LoopbackServer

from .fakes import HashEmbedder, KeywordHeuristic, LengthReference, echo_policy

KEY = "sk-PLANTEDupstreamKEY-0123456789abcdef"


def make(policy=echo_policy, **options):
    return AsyncAligner(policy, LengthReference(), optimizer=TemplateOptimizer(), heuristic=KeywordHeuristic(),
                        embedder=HashEmbedder(), filters=hia.FilterSettings(drift_similarity=-1.0),
                        options=hia.SearchOptions(**options))


@pytest.mark.parametrize("value, message", [
    (D.MAX_BUDGET + 1, f"over the ceiling of {D.MAX_BUDGET}"),
    (10**9, "over the ceiling"),
    ("1e400", "whole number"),
    (2.5, "fractions are not rounded"),
    (float("nan"), "whole number"),
    (math.inf, "whole number"),
    (True, "whole number"),
    ("three", "whole number"),
    (0, "at least 1"),
    (-4, "at least 1"),
])
def test_every_budget_has_a_ceiling_and_a_clear_error(value, message):
    with pytest.raises(InputError, match=message):
        asyncio.run(make().align("Why?", "verbosity=2", budget=value, method="best_of_n"))


def test_the_ceiling_is_a_setting_and_whole_numbers_in_text_are_read():
    assert whole_calls("3") == 3 and whole_calls(4.0) == 4
    result = asyncio.run(make(max_budget=100).align("Why?", "verbosity=2", budget=80, method="best_of_n"))
    assert result.usage.policy_calls == 80
    with pytest.raises(InputError, match="max_budget"):
        make(max_budget=0)


@pytest.mark.parametrize("option", ["hia_candidates", "beam_width", "beam_expansions"])
@pytest.mark.parametrize("value", [0, -1, 1.5])
def test_search_sizes_must_be_whole_and_positive(option, value):
    with pytest.raises(InputError, match=f"{option} must be a whole number of at least 1"):
        make(**{option: value})


def test_a_shared_budget_gives_each_alignment_only_its_allowance(hash_embedder):
    shared = Budget(250)
    aligner = make()

    async def main():
        jobs = [aligner.align(f"Question {i}?", "verbosity=2", budget=shared, allowance=2, method="best_of_n")
                for i in range(200)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    outcomes = asyncio.run(main())
    answered = [o for o in outcomes if not isinstance(o, BaseException)]
    starved = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(o.usage.policy_calls == 2 and o.response for o in answered)  # no alignment took more than 2
    assert len(answered) == 125 and shared.used == 250 and shared.reserved == 0
    assert all(isinstance(o, BudgetExhausted) and o.result is not None for o in starved)


def test_an_alignment_that_made_no_call_raises_instead_of_returning_nothing():
    shared = Budget(1)
    aligner = make()
    asyncio.run(aligner.align("First?", "verbosity=2", budget=shared, allowance=1, method="best_of_n"))
    with pytest.raises(BudgetExhausted, match="no policy call could be made") as info:
        asyncio.run(aligner.align("Second?", "verbosity=2", budget=shared, allowance=1, method="hia"))
    assert info.value.result.response is None and info.value.result.usage.policy_calls == 0


def test_batch_items_draw_allowances_and_an_item_with_no_call_is_an_error(tmp_path):
    out = tmp_path / "out.jsonl"
    items = [{"id": i, "prompt": f"Question {i}?", "goal": "verbosity=2", "method": "best_of_n"} for i in range(12)]
    shared = Budget(10)
    asyncio.run(align_many(make(), items, output=out, budget_per_item=2, shared_budget=shared, concurrency=4,
                                  progress=False))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(int(r["id"]) for r in records) == list(range(12))  # one record per item
    ok = [r for r in records if r["status"] == "ok"]
    assert all(r["result"]["response"] and r["result"]["usage"]["policy_calls"] <= 2 for r in ok)  # ok means answered
    assert {r["error"]["type"] for r in records if r["status"] == "error"} == {"BudgetExhausted"}
    assert shared.used == 10 == sum(r["result"]["usage"]["policy_calls"] for r in ok)
    with pytest.raises(InputError, match="shared_budget="):
        asyncio.run(align_many(make(), items, output=out, budget_per_item=Budget(5), progress=False))


def test_redact_removes_the_key_bearer_tokens_and_secret_fields():
    text = f'bad key {KEY}; Authorization: Bearer tok-123456789; {{"api_key": "abc-def-ghi"}} password is hunter2'
    clean = redact(text, [KEY, "hunter2"])
    assert KEY not in clean and "tok-123456789" not in clean and "abc-def-ghi" not in clean and "hunter2" not in clean
    assert clean.count("[redacted]") == 4


@pytest.mark.parametrize("status", [400, 404, 422, 429, 500])
def test_an_upstream_that_echoes_the_key_never_puts_it_anywhere(status, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # the client libraries' debug logs included
    with LoopbackServer(echo_status=status) as server:
        policy = AsyncChatPolicy("m", base_url=server.base_url, api_key=KEY, max_tokens=4, max_retries=1,
                                 retry_initial_wait=0.001, retry_max_wait=0.01)
        aligner = AsyncAligner(policy, LengthReference(), embedder=HashEmbedder())
        with pytest.raises(hia.HiaError) as info:
            asyncio.run(aligner.align("Why?", "verbosity=2", budget=1, method="best_of_n"))
        report = asyncio.run(align_many(aligner, [{"id": 1, "prompt": "Why?", "goal": "verbosity=2"}],
                                                output=tmp_path / "out.jsonl", progress=False))
        cli = subprocess.run([sys.executable, "-m", "hia.cli", "align", "Why?", "--goal", "verbosity=1", "--base-url",
                              server.base_url, "--model", "m", "--api-key-env", "ECHOED_KEY", "--budget", "1"],
                             capture_output=True, text=True, env={**os.environ, "ECHOED_KEY": KEY}, timeout=120)
    assert server.outcomes[f"echo_{status}"] >= 3  # the upstream really did echo it, to every caller
    assert cli.returncode != 0 and "hia: error" in cli.stderr
    seen = [str(info.value), repr(info.value), info.value.result.to_json(), json.dumps(report.records),
            (tmp_path / "out.jsonl").read_text(), cli.stdout, cli.stderr, caplog.text]
    assert all(KEY not in text for text in seen)
    if status in (400, 404, 422):  # not retried: the upstream's words are quoted, redacted
        assert "[redacted]" in str(info.value) and "[redacted]" in cli.stderr


def test_the_proxy_answers_an_echoing_upstream_without_the_key():
    from hia.serving import ProxyServer

    with LoopbackServer(echo_status=400) as server, \
            ProxyServer(upstream_url=server.base_url, model="m", api_key=KEY) as proxy:
        client = openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)
        with pytest.raises(openai.APIStatusError) as aligned:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Why?"}],
                                           extra_body={"goal": "verbosity=1", "budget": 1})
        with pytest.raises(openai.APIStatusError) as passed:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Why?"}])
    for error in (aligned.value, passed.value):
        assert KEY not in error.response.text and KEY not in str(error)


budgets = st.one_of(st.integers(-5, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["3", "1e400", "2.5", "x", ""]), st.booleans())


# Whole budgets written three ways, then anything: three draws in four reach the batch itself.
usable = st.integers(1, 12)
batch_budgets = st.one_of(usable, usable.map(str), usable.map(float), budgets)


@settings(max_examples=40, deadline=None)
@given(per_item=batch_budgets, shared_total=st.integers(1, 60), items=st.integers(1, 25),
       method=st.sampled_from(hia.METHODS), target=st.integers(0, 4))
def test_no_budget_however_written_breaks_a_batch(tmp_path_factory, per_item, shared_total, items, method, target):
    out = tmp_path_factory.mktemp("batch") / "out.jsonl"
    shared = Budget(shared_total)
    aligner = make()
    batch = [{"id": i, "prompt": f"Question {i}?", "goal": f"verbosity={target}", "method": method} for i in range(items)]
    try:
        allowance = whole_calls(per_item)
    except InputError:
        with pytest.raises(InputError):  # refused before anything is spent
            asyncio.run(align_many(aligner, batch, output=out, budget_per_item=per_item, shared_budget=shared,
                                           progress=False))
        assert shared.used == 0
        return
    asyncio.run(align_many(aligner, batch, output=out, budget_per_item=per_item, shared_budget=shared,
                                   concurrency=8, progress=False))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(int(r["id"]) for r in records) == list(range(items))  # exactly one record per item
    for r in records:
        if r["status"] == "ok":
            assert r["result"]["response"] is not None  # ok means answered
            assert 1 <= r["result"]["usage"]["policy_calls"] <= min(allowance, D.MAX_BUDGET)
            # memory bounded by the allowance: at most a round's proposals, its resample (one a
            # round, and a round makes at least one call) and the root per call
            assert len(r["result"]["candidates"]) <= allowance * (D.HIA_CANDIDATES_PER_ROUND + 3) + 1
        else:
            assert r["error"]["type"] == "BudgetExhausted"
    assert shared.used <= shared_total and shared.reserved == 0
