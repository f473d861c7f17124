"""The proxy, tested with the official `openai` client against the running proxy over HTTP."""

import json
import urllib.request

import openai
import pytest

from hia import InputError
from hia.serving import ProxyServer
from hia.serving.profiles import ProfileStore
from tests.support.loopback import LoopbackServer

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]
UPSTREAM_KEY = "sk-upstream-PLANTED-abcdefghijklmnop1234"


@pytest.fixture
def upstream():
    with LoopbackServer() as s:
        yield s


@pytest.fixture
def proxy(upstream, tmp_path):
    profiles = ProfileStore(tmp_path / "profiles.sqlite")
    with ProxyServer(upstream_url=upstream.base_url, model="up-model", api_key=UPSTREAM_KEY, profiles=profiles) as p:
        yield p


def client(proxy, key="unused"):
    return openai.OpenAI(base_url=proxy.base_url, api_key=key, max_retries=0)


def test_models_and_health(proxy):
    assert [m.id for m in client(proxy).models.list().data] == ["up-model"]
    with urllib.request.urlopen(proxy.base_url.replace("/v1", "/health")) as r:
        assert json.loads(r.read())["status"] == "ok"


def test_goal_in_extra_body_is_aligned_and_usage_sums_internal_calls(proxy, upstream):
    reply = client(proxy).chat.completions.create(model="anything", messages=MESSAGES, max_tokens=6,
                                                  extra_body={"goal": "verbosity=1", "budget": 3, "method": "best_of_n"})
    assert len(upstream.requests) == 3
    assert all(r["model"] == "up-model" and "goal" not in r for r in upstream.requests)
    assert reply.usage.completion_tokens == 3 * 6  # three policy answers of six words
    assert upstream.headers[0]["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_goal_from_header_and_from_profile(proxy, upstream):
    c = client(proxy)
    c.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4,
                              extra_headers={"X-HIA-Goal": "verbosity=2", "X-HIA-Budget": "2", "X-HIA-Method": "best_of_n"})
    assert len(upstream.requests) == 2
    proxy.client.profiles.set("ana", "verbosity=0", budget=1, method="best_of_n")
    raw = c.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, max_tokens=4, user="ana")
    assert len(upstream.requests) == 3
    # aligned to the profile's goal, not passed through (which would also be one upstream call)
    assert raw.headers["X-HIA-Goal"] == "verbosity=0" and raw.headers["X-HIA-Method"] == "best_of_n"
    assert "verbosity" in upstream.requests[-1]["messages"][-1]["content"]  # the goal was stated to the policy


def test_without_goal_it_passes_through(proxy, upstream):
    reply = client(proxy).chat.completions.create(model="m", messages=MESSAGES, max_tokens=5)
    assert len(upstream.requests) == 1 and len(reply.choices[0].message.content.split()) == 5


def test_stream_true_streams_the_chosen_answer(upstream, tmp_path):
    trace = tmp_path / "trace.jsonl"
    with ProxyServer(upstream_url=upstream.base_url, model="m", trace=trace) as p:
        stream = client(p).chat.completions.create(model="m", messages=MESSAGES, max_tokens=20, stream=True,
                                                   stream_options={"include_usage": True},
                                                   extra_body={"goal": "verbosity=1", "budget": 2})
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 20 and len([c for c in chunks if c.choices]) > 3
    assert chunks[-1].usage.completion_tokens == 20 * len(upstream.requests)  # every internal call counted
    chosen = json.loads(trace.read_text())["result"]["response"]
    answers = {r["seed"] for r in upstream.requests}
    assert text == chosen and len(answers) == 2  # the answer the search chose, of two that differ


def test_bad_goal_is_a_400_with_the_reason(proxy):
    with pytest.raises(openai.BadRequestError, match="outside its range"):
        client(proxy).chat.completions.create(model="m", messages=MESSAGES, extra_body={"goal": "verbosity=9"})


def test_refuses_non_loopback_without_token(upstream):
    with pytest.raises(InputError, match="needs a bearer token"):
        ProxyServer(upstream_url=upstream.base_url, model="m", host="0.0.0.0")


def test_token_is_required_when_set(upstream):
    with ProxyServer(upstream_url=upstream.base_url, model="m", token="proxy-token-1234567") as p:
        with pytest.raises(openai.AuthenticationError):
            client(p, key="wrong").chat.completions.create(model="m", messages=MESSAGES)
        ok = client(p, key="proxy-token-1234567").chat.completions.create(model="m", messages=MESSAGES, max_tokens=3)
        assert ok.choices[0].message.content


@pytest.mark.parametrize("where", ["body", "header"])
@pytest.mark.parametrize("budget", ["1000000000", "1e400", "2.5"])
def test_every_budget_a_request_names_is_checked_against_the_ceiling(proxy, upstream, where, budget):
    before = len(upstream.requests)
    extra = {"extra_body": {"goal": "verbosity=1", "budget": budget}} if where == "body" else \
        {"extra_body": {"goal": "verbosity=1"}, "extra_headers": {"X-HIA-Budget": budget}}
    with pytest.raises(openai.BadRequestError) as info:
        client(proxy).chat.completions.create(model="m", messages=MESSAGES, **extra)
    assert "policy calls" in info.value.response.json()["error"]["message"]
    assert len(upstream.requests) == before  # refused before any upstream call


def test_a_profile_cannot_hold_a_budget_over_the_ceiling(tmp_path):
    with ProfileStore(tmp_path / "p.sqlite") as store, pytest.raises(InputError, match="over the ceiling"):
        store.set("ana", "verbosity=1", budget=10**9)


def test_with_a_token_health_needs_it_too(upstream):
    import urllib.error

    with ProxyServer(upstream_url=upstream.base_url, model="m", token="proxy-token-1234567") as p:
        health = p.base_url.replace("/v1", "/health")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(health)
        assert refused.value.code == 401
        request = urllib.request.Request(health, headers={"Authorization": "Bearer proxy-token-1234567"})
        with urllib.request.urlopen(request) as r:
            assert json.loads(r.read())["status"] == "ok"


def test_each_request_is_parsed_once(proxy, upstream, monkeypatch):
    """The route parses a request into a ChatRequest once; the wrapper it runs never parses again."""
    from hia.serving.protocol import ChatRequest

    parses = []
    real = ChatRequest.parse.__func__

    def counting(cls, kwargs, *args):
        parses.append(kwargs.get("messages"))
        return real(cls, kwargs, *args)

    monkeypatch.setattr(ChatRequest, "parse", classmethod(counting))
    c = client(proxy)
    c.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4,
                              extra_body={"goal": "verbosity=1", "budget": 2, "method": "best_of_n"})
    assert len(parses) == 1 and len(upstream.requests) == 2
    c.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4)  # passed through
    assert len(parses) == 2 and len(upstream.requests) == 3
    with c.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4, stream=True,
                                   extra_body={"goal": "verbosity=1", "budget": 1, "method": "best_of_n"}) as stream:
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert len(parses) == 3


def test_the_verbosity_knob_without_a_goal_is_aligned_and_named(proxy, upstream):
    reply = client(proxy).chat.completions.with_raw_response.create(model="m", messages=MESSAGES, max_tokens=4,
                                                                   verbosity="low")
    assert reply.headers["X-HIA-Goal"] == "verbosity=1"  # low -> 1, as documented
    assert upstream.requests and all("verbosity" not in r for r in upstream.requests)  # not passed on by default
    upstream.requests.clear()
    reply = client(proxy).chat.completions.with_raw_response.create(
        model="m", messages=MESSAGES, max_tokens=4, verbosity="high",
        extra_body={"goal": "complexity=1", "budget": 1, "method": "best_of_n"})
    assert reply.headers["X-HIA-Goal"] == "complexity=1"  # the explicit goal wins over the knob
    with pytest.raises(openai.BadRequestError, match="verbosity must be one of"):
        client(proxy).chat.completions.create(model="m", messages=MESSAGES, verbosity="extreme")


def test_the_knob_mapping_and_its_passing_upstream_are_settings():
    from hia.serving.protocol import ChatRequest, KnobOptions

    knobs = KnobOptions(verbosity_levels={"low": 0, "high": 4}, pass_verbosity_upstream=True)
    request = ChatRequest.parse({"model": "m", "messages": MESSAGES, "verbosity": "low"}, knobs=knobs)
    assert str(request.alignment.goal) == "verbosity=0" and request.upstream["verbosity"] == "low"
    assert request.policy_params()["verbosity"] == "low"  # passed on to every policy call too
    plain = ChatRequest.parse({"model": "m", "messages": MESSAGES, "verbosity": "medium"})
    assert str(plain.alignment.goal) == "verbosity=2" and "verbosity" not in plain.upstream
    assert "verbosity" not in plain.policy_params()
