"""Random bad values at every public entry point: `align`, `align_many`, `ChatPolicy` and the
proxy's body each answer with a typed HiaError (or, over HTTP, a 4xx in the OpenAI shape),
never another exception, and never a 5xx."""

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hia import AsyncAligner, ChatPolicy, HiaError, TemplateOptimizer, align_many
from hia.serving import ProxyServer
from tests.support.loopback import LoopbackServer

from .fakes import HashEmbedder, KeywordHeuristic, LengthReference

EXAMPLES = 500
# Values a careless caller or an attacker might send: scalars of every JSON type, odd strings,
# huge and non-finite numbers, and nested lists and objects of them.
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["verbosity=1", "verbosity:9", "hia", "best_of_n", "", " ",
                                                          "nan", "1e400", "-1", "user", "system"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=3), max_leaves=6)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def aligner() -> AsyncAligner:
    return AsyncAligner(lambda p: "A short answer.", LengthReference(), optimizer=TemplateOptimizer(),
                        heuristic=KeywordHeuristic(), embedder=HashEmbedder())


ALIGNER = aligner()


@FUZZ
@given(prompt=VALUES, goal=VALUES, budget=VALUES, method=VALUES, objective=VALUES, messages=VALUES)
def test_align_answers_bad_arguments_with_a_typed_error(prompt, goal, budget, method, objective, messages):
    kwargs = {"budget": budget, "method": method, "objective": objective, "messages": messages}
    try:
        asyncio.run(ALIGNER.align(prompt, goal, **{k: v for k, v in kwargs.items() if v is not None}))
    except HiaError:
        pass


@FUZZ
@given(items=st.lists(VALUES, max_size=3) | VALUES, per_item=VALUES, shared=VALUES, total=VALUES,
       concurrency=VALUES)
def test_align_many_answers_bad_arguments_with_a_typed_error(tmp_path_factory, items, per_item, shared, total,
                                                              concurrency):
    out = tmp_path_factory.mktemp("fuzz") / "out.jsonl"
    kwargs = {"budget_per_item": per_item, "shared_budget": shared, "total_budget": total, "concurrency": concurrency}
    try:
        asyncio.run(align_many(ALIGNER, items, output=out, progress=False,
                               **{k: v for k, v in kwargs.items() if v is not None}))
    except HiaError:
        pass


@FUZZ
@given(model=VALUES, base_url=VALUES, timeout=VALUES, max_retries=VALUES, temperature=VALUES, max_tokens=VALUES)
def test_chat_policy_answers_bad_arguments_with_a_typed_error(model, base_url, timeout, max_retries, temperature,
                                                              max_tokens):
    kwargs = {"base_url": base_url, "timeout": timeout, "max_retries": max_retries, "temperature": temperature,
              "max_tokens": max_tokens}
    try:
        ChatPolicy(model, **{k: v for k, v in kwargs.items() if v is not None})
    except HiaError:
        pass


@pytest.fixture(scope="module")
def proxy():
    with LoopbackServer() as upstream, ProxyServer(upstream_url=upstream.base_url, model="m") as p:
        yield p


BODY_KEYS = ["messages", "goal", "budget", "method", "objective", "hia", "stream", "stream_options", "temperature",
             "top_p", "max_tokens", "max_completion_tokens", "seed", "n", "tools", "verbosity", "user", "extra"]


@FUZZ
@given(body=st.dictionaries(st.sampled_from(BODY_KEYS), VALUES, max_size=6) | VALUES,
       route=st.sampled_from(["/chat/completions", "/responses"]))
def test_the_proxy_answers_any_body_with_a_4xx_in_the_openai_shape_or_an_answer(proxy, body, route):
    if isinstance(body, dict) and route == "/responses" and "messages" in body:
        body["input"] = body.pop("messages")
    try:
        data = json.dumps(body, allow_nan=True).encode()
    except (TypeError, ValueError, RecursionError):  # pragma: no cover - hypothesis's values are JSON
        return
    request = urllib.request.Request(proxy.base_url + route, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            assert r.status == 200
    except urllib.error.HTTPError as exc:
        assert 400 <= exc.code < 500, (exc.code, exc.read()[:300])
        error = json.loads(exc.read())["error"]
        assert set(error) == {"message", "type", "param", "code"} and isinstance(error["message"], str)
