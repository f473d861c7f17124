"""The drop-in wrapper, with the real `openai` client over HTTP to the loopback server."""

import asyncio

import openai
import pytest
from openai.types.chat import ChatCompletion

import hia
from hia import InputError
from hia.serving.profiles import ProfileStore
from hia.serving.protocol import ChatRequest
from tests.support.loopback import LoopbackServer

MESSAGES = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "How do magnets work?"}]


@pytest.fixture
def server():
    with LoopbackServer() as s:
        yield s


def test_without_a_goal_the_call_is_passed_through_unchanged(server):
    client = hia.wrap(openai.OpenAI(base_url=server.base_url, api_key="k"))
    reply = client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=7)
    assert type(reply) is ChatCompletion and len(reply.choices[0].message.content.split()) == 7
    assert len(server.requests) == 1 and "goal" not in server.requests[0]
    assert client.models.list().data[0].id == "loopback"  # everything else is the client's own


def test_goal_in_extra_body_aligns_within_budget(server):
    client = hia.wrap(openai.OpenAI(base_url=server.base_url, api_key="k"))
    reply = client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=9, temperature=0.3,
                                           extra_body={"goal": "verbosity=1", "budget": 3, "method": "best_of_n"})
    assert isinstance(reply, ChatCompletion)
    result = reply.alignment
    assert result.method == "best_of_n" and result.usage.policy_calls == 3 == len(server.requests)
    assert reply.choices[0].message.content == result.response
    assert reply.usage.prompt_tokens == result.usage.prompt_tokens  # summed over every internal call
    sent = server.requests[0]
    assert sent["messages"][0] == MESSAGES[0] and sent["temperature"] == 0.3 and sent["max_tokens"] == 9
    assert not {"goal", "budget", "method"} & set(sent)  # hia's fields never reach the upstream
    assert len({r["seed"] for r in server.requests}) == 3
    assert "alignment" not in reply.model_dump()


def test_async_twin_and_nested_extra_body(server):
    async def main():
        client = hia.wrap(openai.AsyncOpenAI(base_url=server.base_url, api_key="k"))
        return await client.chat.completions.create(model="m", messages=MESSAGES,
                                                    extra_body={"hia": {"goal": {"verbosity": 1}, "budget": 2}})

    before = len(server.requests)
    reply = asyncio.run(main())
    assert reply.alignment.usage.policy_calls == 2 and reply.alignment.method == "hia"
    assert len(server.requests) - before == 2  # both calls went through the wrapped async client
    assert reply.choices[0].message.content == reply.alignment.response


def test_profile_supplies_the_goal_for_its_user(server, tmp_path):
    profiles = ProfileStore(tmp_path / "profiles.sqlite")
    profiles.set("ana", "verbosity=0", budget=1, method="best_of_n")
    client = hia.wrap(openai.OpenAI(base_url=server.base_url, api_key="k"), profiles=profiles)
    reply = client.chat.completions.create(model="m", messages=MESSAGES, user="ana")
    assert reply.alignment.goal.targets == {"verbosity": 0.0} and reply.alignment.usage.policy_calls == 1
    plain = client.chat.completions.create(model="m", messages=MESSAGES, user="bob")
    assert not hasattr(plain, "alignment")


def test_bad_requests_are_typed_errors(server):
    client = hia.wrap(openai.OpenAI(base_url=server.base_url, api_key="k"))
    with pytest.raises(InputError, match="stream=True"):
        client.chat.completions.create(model="m", messages=MESSAGES, stream=True, extra_body={"goal": "verbosity=1"})
    with pytest.raises(InputError, match="last message must be the user's"):
        ChatRequest.parse({"messages": [{"role": "assistant", "content": "hi"}], "goal": "verbosity=1"})
    with pytest.raises(hia.GoalError):
        ChatRequest.parse({"messages": MESSAGES, "goal": "verbosity=9"})
    with pytest.raises(TypeError, match="openai.OpenAI"):
        hia.wrap(object())


@pytest.mark.parametrize("option, value", [("reference", "exact"), ("options", {"budget": 2}),
                                           ("profiles", "profiles.sqlite"), ("rate_limiter", 5)])
def test_an_option_of_the_wrong_type_is_refused_when_wrapping(server, option, value):
    with pytest.raises(InputError, match=f"^{option} must be"):
        hia.wrap(openai.OpenAI(base_url=server.base_url, api_key="k"), **{option: value})
    if option != "rate_limiter":  # the proxy makes its own, from rate_limit=
        with pytest.raises(InputError, match=f"^{option} must be"):
            hia.serving.ProxyServer(upstream_url=server.base_url, model="m", **{option: value})


def test_a_passed_through_error_keeps_its_class_status_and_body_without_the_key():
    key = "f3a9c2e17b5d4086a1e2c3d4b5a69788"
    with LoopbackServer(echo_status=422) as upstream:
        client = hia.wrap(openai.OpenAI(base_url=upstream.base_url, api_key=key, max_retries=0))
        with pytest.raises(openai.UnprocessableEntityError) as info:
            client.chat.completions.create(model="m", messages=MESSAGES)
    error = info.value
    assert error.status_code == 422 and error.body["type"] == "invalid_request_error"
    assert "cannot serve this request" in error.message and key not in error.message + error.response.text
    assert key not in str(error.body) and "[redacted]" in error.response.json()["error"]["message"]
