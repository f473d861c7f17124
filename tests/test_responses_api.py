"""POST /v1/responses and wrap(client).responses.create, driven with the official `openai` client
over real HTTP against the loopback upstream (which also misbehaves on request)."""

import asyncio
import json
import re
import urllib.error
import urllib.request

import openai
import pytest

from hia import wrap
from hia.build import Settings, build
from hia.search.options import SearchOptions
from hia.serving import ProxyServer
from hia.serving.profiles import ProfileStore
from hia.serving.responses import ResponsesRequest
from tests.support.loopback import Faults, LoopbackServer

BEST_OF_2 = {"goal": "verbosity=1", "budget": 2, "method": "best_of_n"}


@pytest.fixture
def upstream():
    with LoopbackServer() as s:
        yield s


@pytest.fixture
def proxy(upstream, tmp_path):
    with ProxyServer(upstream_url=upstream.base_url, model="up-model",
                     profiles=ProfileStore(tmp_path / "profiles.sqlite")) as p:
        yield p


def client(proxy):
    return openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)


def test_a_plain_call_is_aligned_and_its_usage_sums_every_call(proxy, upstream):
    raw = client(proxy).responses.with_raw_response.create(
        model="anything", input="Why is the sky blue?", instructions="Be kind.", max_output_tokens=7,
        extra_body=BEST_OF_2)
    reply = raw.parse()
    assert reply.object == "response" and reply.status == "incomplete"  # the loopback stops at the cap
    assert reply.incomplete_details.reason == "max_output_tokens"
    assert len(reply.output_text.split()) == 7
    assert len(upstream.requests) == 2  # two policy calls, each a chat call with the instructions as system
    for sent in upstream.requests:  # the instructions as the system message, the input as the user's
        assert sent["messages"][0] == {"role": "system", "content": "Be kind."} and len(sent["messages"]) == 2
        assert sent["messages"][1]["role"] == "user" and sent["messages"][1]["content"].startswith("Why is the sky blue?")
    assert all(r["max_tokens"] == 7 and "goal" not in r for r in upstream.requests)
    assert reply.usage.output_tokens == 2 * 7 and reply.usage.total_tokens == reply.usage.input_tokens + 14
    assert raw.headers["X-HIA-Goal"] == "verbosity=1" and raw.headers["X-HIA-Policy-Calls"] == "2"
    assert raw.headers["X-Request-ID"]
    assert upstream.responses_requests == []  # aligned: nothing went to the upstream's own Responses API


def test_a_list_of_messages_is_the_conversation(proxy, upstream):
    client(proxy).responses.create(model="m", max_output_tokens=3, extra_body=BEST_OF_2, input=[
        {"role": "developer", "content": "Answer plainly."},
        {"role": "user", "content": [{"type": "input_text", "text": "Hi."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello."}]},
        {"role": "user", "content": "What is rain?"}])
    sent = upstream.requests[0]["messages"]
    assert sent[:3] == [{"role": "system", "content": "Answer plainly."}, {"role": "user", "content": "Hi."},
                        {"role": "assistant", "content": "Hello."}]
    assert sent[3]["role"] == "user" and sent[3]["content"].startswith("What is rain?") and len(sent) == 4


def test_a_streamed_call_sends_the_response_events_in_order_with_usage(proxy, upstream):
    events = list(client(proxy).responses.create(model="m", input="Why?", max_output_tokens=20, stream=True,
                                                 extra_body=BEST_OF_2))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.incomplete" or kinds[-1] == "response.completed"
    for kind in ("response.output_item.added", "response.content_part.added", "response.output_text.done",
                 "response.content_part.done", "response.output_item.done"):
        assert kinds.count(kind) == 1, kind
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 1 and len("".join(deltas).split()) == 20
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.output_text == "".join(deltas)
    assert final.usage.output_tokens == 20 * len(upstream.requests)  # every internal call counted


def test_a_goal_from_headers_and_from_a_profile(proxy, upstream):
    c = client(proxy)
    raw = c.responses.with_raw_response.create(model="m", input="Why?", max_output_tokens=3, extra_headers={
        "X-HIA-Goal": "verbosity:2", "X-HIA-Budget": "2", "X-HIA-Method": "best_of_n"})
    assert raw.headers["X-HIA-Goal"] == "verbosity=2" and len(upstream.requests) == 2
    proxy.client.profiles.set("ana", "verbosity=0", budget=1, method="best_of_n")
    raw = c.responses.with_raw_response.create(model="m", input="Why?", max_output_tokens=3, user="ana")
    assert raw.headers["X-HIA-Goal"] == "verbosity=0" and len(upstream.requests) == 3


def test_text_verbosity_without_a_goal_is_aligned_to_its_level(proxy, upstream):
    raw = client(proxy).responses.with_raw_response.create(model="m", input="Why?", max_output_tokens=3,
                                                           text={"verbosity": "low"}, extra_body={"budget": 1})
    assert raw.headers["X-HIA-Goal"] == "verbosity=1"
    assert upstream.requests and all("verbosity" not in r for r in upstream.requests)  # not passed on by default


def test_without_a_goal_it_passes_through_to_the_upstreams_responses_api(proxy, upstream):
    reply = client(proxy).responses.create(model="m", input="Why?", max_output_tokens=5, store=False,
                                           metadata={"team": "a"})
    assert upstream.requests == []  # no chat call
    assert upstream.responses_requests == [{"model": "up-model", "input": "Why?", "max_output_tokens": 5,
                                            "store": False, "metadata": {"team": "a"}}]
    assert reply.id.startswith("resp_loopback") and len(reply.output_text.split()) == 5


def post(proxy, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(proxy.base_url + "/responses", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("body, code, says", [
    ({"input": "Why?", "goal": "verbosity=9"}, "invalid_goal", "outside its range"),
    ({"input": "Why?", "goal": "verbosity=1", "method": "magic"}, "unknown_method", "magic"),
    ({"input": "Why?", "goal": "verbosity=1", "budget": 10**9}, "invalid_request", "policy calls"),
    ({"input": "Why?", "goal": "verbosity=1", "tools": [{"type": "web_search"}]}, "invalid_request", "tools"),
    ({"input": "Why?", "goal": "verbosity=1", "previous_response_id": "resp_1"}, "invalid_request",
     "previous_response_id"),
    ({"input": "Why?", "goal": "verbosity=1", "background": True}, "invalid_request", "background"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": "{}"}], "goal": "verbosity=1"},
     "invalid_request", "input\\[0\\] must be a message"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}], "goal": "verbosity=1"},
     "invalid_request", "only text parts"),
    ({"input": 5, "goal": "verbosity=1"}, "invalid_request", "input must be a string"),
    ({"input": "Why?", "text": {"verbosity": "tiny"}}, "invalid_request", "verbosity must be one of"),
    ({"input": "Why?", "text": "short"}, "invalid_request", "text must be an object"),
])
def test_every_refusal_is_a_400_in_the_openai_shape(proxy, upstream, body, code, says):
    status, answer = post(proxy, body)
    assert status == 400
    assert set(answer["error"]) == {"message", "type", "param", "code"} and answer["error"]["code"] == code
    assert upstream.requests == [] and upstream.responses_requests == []  # refused before any call
    assert re.search(says, answer["error"]["message"])


def test_an_upstream_failure_keeps_its_status_and_a_stream_ends_with_an_error_event(tmp_path):
    with LoopbackServer(faults=Faults(server_error=1.0)) as failing, \
            ProxyServer(upstream_url=failing.base_url, model="m", upstream_timeout_s=2) as p:
        with pytest.raises(openai.APIStatusError) as info:
            client(p).responses.create(model="m", input="Why?", extra_body={"goal": "verbosity=1", "budget": 1})
        assert info.value.status_code == 502 and info.value.body["type"] == "upstream_error"
        events = list(client(p).responses.create(model="m", input="Why?", stream=True,
                                                 extra_body={"goal": "verbosity=1", "budget": 1}))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-2:] == ["error", "response.failed"]
    assert events[-2].message and events[-1].response.status == "failed"


def test_the_wrapper_aligns_responses_create_sync_and_async(upstream):
    pipeline = build(Settings(search=SearchOptions(method="best_of_n")))
    sync = wrap(openai.OpenAI(base_url=upstream.base_url, api_key="k"), pipeline=pipeline)
    reply = sync.responses.create(model="m", input="Why?", max_output_tokens=4, extra_body={"goal": "verbosity=1",
                                                                                          "budget": 2})
    assert len(upstream.requests) == 2 and reply.alignment.usage.policy_calls == 2
    assert reply.output_text == reply.alignment.response
    passed = sync.responses.create(model="m", input="Why?", max_output_tokens=4)
    assert passed.id.startswith("resp_loopback") and len(upstream.responses_requests) == 1

    async def run() -> None:
        client = wrap(openai.AsyncOpenAI(base_url=upstream.base_url, api_key="k"), pipeline=pipeline)
        answer = await client.responses.create(model="m", input="Why?", max_output_tokens=4, text={"verbosity": "high"})
        assert answer.alignment.goal.targets == {"verbosity": 3.0}
        await client.close()

    asyncio.run(run())
    assert len(upstream.requests) > 2


def test_a_responses_request_is_parsed_once_into_the_chat_request_it_stands_for():
    request = ResponsesRequest.parse({"model": "m", "input": "Hi?", "instructions": "Short.", "max_output_tokens": 9,
                                      "temperature": 0.3, "extra_body": {"hia": {"goal": "verbosity:1"}}})
    assert request.alignment.goal.targets == {"verbosity": 1.0}
    assert request.chat.policy_params() == {"temperature": 0.3, "max_tokens": 9}
    assert request.alignment.context == [{"role": "system", "content": "Short."}] and request.alignment.prompt == "Hi?"
    assert "extra_body" not in request.upstream and request.upstream["instructions"] == "Short."
