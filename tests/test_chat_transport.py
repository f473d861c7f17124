"""The shared transport against a real loopback HTTP server, through the real `openai` client."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hia import (
    AsyncChatPolicy,
    AuthenticationFailed,
    ChatPolicy,
    ContextLengthExceeded,
    EndpointUnreachable,
    RetriesExhausted,
)
from hia.core.usage import Usage
from hia.models.local import free_port

KEY = "sk-test-PLANTED-0123456789abcdefghij"


def completion(text: str) -> dict:
    return {
        "id": "c1", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


class Script:
    """Replies to successive requests from a list of (status, headers, body)."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests: list[dict] = []
        self.times: list[float] = []


def serve(script: Script):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests.append({"body": body, "auth": self.headers.get("Authorization")})
            script.times.append(time.monotonic())
            status, headers, payload = script.replies.pop(0) if script.replies else (200, {}, completion("ok"))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


@pytest.fixture
def endpoint():
    servers = []

    def start(replies):
        script = Script(replies)
        server, url = serve(script)
        servers.append(server)
        return script, url

    yield start
    for s in servers:
        s.shutdown()


def policy(url, **kw):
    return ChatPolicy("m", base_url=url, api_key=KEY, temperature=0.5, max_tokens=9, **kw)


def test_request_carries_model_params_seed_and_key(endpoint):
    script, url = endpoint([(200, {}, completion("hello"))])
    usage = Usage()
    reply = policy(url).complete([{"role": "user", "content": "hi"}], seed=42, usage=usage)
    assert reply.text == "hello" and (reply.prompt_tokens, reply.completion_tokens) == (7, 3)
    body = script.requests[0]["body"]
    assert (body["model"], body["seed"], body["max_tokens"], body["temperature"]) == ("m", 42, 9, 0.5)
    assert script.requests[0]["auth"] == f"Bearer {KEY}"
    assert usage.policy_calls == 1 and usage.prompt_tokens == 7


def test_429_is_retried_after_the_servers_retry_after(endpoint):
    error = {"error": {"message": "slow down", "type": "rate_limit"}}
    script, url = endpoint([(429, {"Retry-After": "0.3"}, error), (200, {}, completion("fine"))])
    usage = Usage()
    reply = policy(url).complete([{"role": "user", "content": "hi"}], usage=usage)
    assert reply.text == "fine"
    assert script.times[1] - script.times[0] >= 0.28  # waited as told
    assert usage.roles["policy"].retries == 1 and usage.policy_calls == 1


def test_5xx_retries_then_gives_a_typed_error(endpoint):
    error = {"error": {"message": "boom"}}
    script, url = endpoint([(500, {}, error)] * 3)
    usage = Usage()
    with pytest.raises(RetriesExhausted, match="HTTP 500") as info:
        policy(url, max_retries=2).complete([{"role": "user", "content": "hi"}], usage=usage)
    assert len(script.requests) == 3
    assert usage.roles["policy"].retries == 2 and usage.roles["policy"].failures == 1
    assert KEY not in str(info.value)


def test_wrong_key_is_not_retried_and_not_echoed(endpoint):
    script, url = endpoint([(401, {}, {"error": {"message": f"Incorrect API key provided: {KEY}"}})])
    with pytest.raises(AuthenticationFailed, match="refused the API key") as info:
        policy(url).complete([{"role": "user", "content": "hi"}])
    assert len(script.requests) == 1
    assert KEY not in str(info.value) and KEY not in repr(info.value)


def test_context_overflow_is_an_input_error(endpoint):
    script, url = endpoint([(400, {}, {"error": {"message": "Requested tokens (5000) exceed context window of 2048"}})])
    with pytest.raises(ContextLengthExceeded, match="context window"):
        policy(url).complete([{"role": "user", "content": "hi"}])


def test_unreachable_endpoint(endpoint):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with pytest.raises(EndpointUnreachable, match="could not be reached"):
        ChatPolicy("m", base_url=url, max_retries=1).complete([{"role": "user", "content": "x"}])


def test_async_twin_behaves_the_same(endpoint):
    import asyncio

    script, url = endpoint([(503, {"Retry-After": "0"}, {"error": {"message": "busy"}}), (200, {}, completion("async ok"))])
    usage = Usage()
    p = AsyncChatPolicy("m", base_url=url, api_key=KEY)
    reply = asyncio.run(p.complete([{"role": "user", "content": "hi"}], seed=3, usage=usage))
    assert reply.text == "async ok" and usage.roles["policy"].retries == 1
    assert script.requests[-1]["body"]["seed"] == 3


def test_repr_hides_the_key_and_url_credentials():
    p = ChatPolicy("m", base_url="http://user:secret@127.0.0.1:9/v1", api_key=KEY)
    assert KEY not in repr(p.endpoint) and "secret" not in repr(p.endpoint)


def test_one_async_policy_works_across_event_loops(endpoint):
    import asyncio

    script, url = endpoint([])
    p = AsyncChatPolicy("m", base_url=url)
    texts = [asyncio.run(p.complete([{"role": "user", "content": "hi"}])).text for _ in range(3)]
    assert texts == ["ok"] * 3 and len(script.requests) == 3


def test_a_blocking_policy_runs_on_the_aligners_loop_with_no_thread_per_call(monkeypatch):
    import threading

    from hia import Aligner
    from hia.models.chat import AsyncChatEndpoint
    from tests.support.loopback import LoopbackServer

    from .fakes import HashEmbedder, LengthReference

    threads = []
    original = AsyncChatEndpoint.chat

    async def spy(self, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncChatEndpoint, "chat", spy)
    with LoopbackServer() as server, ChatPolicy("m", base_url=server.base_url, max_tokens=4) as policy:
        with Aligner(policy, LengthReference(), embedder=HashEmbedder()) as aligner:
            result = aligner.align("Why?", "verbosity=2", budget=3, method="best_of_n")
        assert result.usage.policy_calls == 3 and threads == ["hia-loop"] * 3  # the aligner's loop, one hop
        assert policy.complete([{"role": "user", "content": "Hi?"}]).text  # and it still blocks on its own
