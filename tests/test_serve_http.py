"""The proxy as an HTTP server: error shapes, limits, concurrency, timeouts, request ids and
streams, probed over real sockets with the official `openai` client and raw HTTP."""

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import openai
import pytest

from hia.serving import ProxyServer
from tests.support.loopback import Faults, LoopbackServer

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]
TOKEN = "proxy-token-abcdefghijklmnop"


def raw_request(proxy: ProxyServer, head: str, body: bytes = b"", read_s: float = 5.0) -> bytes:
    """Send bytes as they are and return everything the proxy answers until it closes or goes quiet."""
    with socket.create_connection((proxy.host, proxy.port), timeout=read_s) as sock:
        sock.sendall(head.encode() + body)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


@pytest.fixture
def upstream():
    with LoopbackServer() as s:
        yield s


@pytest.fixture
def proxy(upstream):
    with ProxyServer(upstream_url=upstream.base_url, model="up-model") as p:
        yield p


def client(proxy, key="unused", **options):
    return openai.OpenAI(base_url=proxy.base_url, api_key=key, max_retries=0, **options)


def error_of(response) -> dict:
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] is None or isinstance(error["code"], str)
    assert error["message"] and isinstance(error["type"], str)
    return error


def test_every_error_path_has_the_openai_shape_with_a_string_code(proxy, upstream):
    post = proxy.base_url + "/chat/completions"
    cases = {
        "bad json": (b"{not json", 400, "invalid_json"),
        "not an object": (b"[1, 2]", 400, "invalid_request"),
        "messages not a list": (json.dumps({"messages": "hi"}).encode(), 400, "invalid_request"),
        "deeply nested": (b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json"),
        "bad goal": (json.dumps({"messages": MESSAGES, "goal": "verbosity=9"}).encode(), 400, "invalid_goal"),
        "unknown method": (json.dumps({"messages": MESSAGES, "goal": "verbosity=1", "method": "magic"}).encode(), 400,
                           "unknown_method"),
        "budget over the ceiling": (json.dumps({"messages": MESSAGES, "goal": "verbosity=1", "budget": 10**9}).encode(),
                                    400, "invalid_request"),
    }
    for name, (body, status, code) in cases.items():
        request = urllib.request.Request(post, data=body, headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request)
        error = json.loads(info.value.read())["error"]
        assert (info.value.code, error["code"]) == (status, code), name
        assert set(error) == {"message", "type", "param", "code"}
    assert upstream.requests == []  # none of them reached the upstream
    with pytest.raises(openai.NotFoundError) as missing:
        client(proxy).completions.create(model="m", prompt="hi")  # a route the proxy does not serve
    assert error_of(missing.value.response)["code"] == "not_found"


def test_an_upstream_that_is_down_or_refuses_keeps_a_reason_and_a_status():
    with LoopbackServer() as gone:
        url = gone.base_url
    with ProxyServer(upstream_url=url, model="m", upstream_timeout_s=2) as p:
        with pytest.raises(openai.APIStatusError) as down:
            client(p).chat.completions.create(model="m", messages=MESSAGES)
        assert down.value.status_code == 502 and error_of(down.value.response)["code"] == "upstream_unavailable"
    with LoopbackServer(echo_status=404) as refusing, \
            ProxyServer(upstream_url=refusing.base_url, model="m") as p:
        with pytest.raises(openai.NotFoundError) as refused:  # passed through: the upstream's 404 stays a 404
            client(p).chat.completions.create(model="m", messages=MESSAGES)
        assert "cannot serve this request" in error_of(refused.value.response)["message"]


def test_unauthorised_requests_get_401_in_the_openai_shape(upstream):
    with ProxyServer(upstream_url=upstream.base_url, model="m", token=TOKEN) as p:
        with pytest.raises(openai.AuthenticationError) as info:
            client(p, key="wrong-key").chat.completions.create(model="m", messages=MESSAGES)
        assert error_of(info.value.response)["type"] == "authentication_error"
        assert error_of(info.value.response)["code"] == "invalid_api_key"
        assert client(p, key=TOKEN).chat.completions.create(model="m", messages=MESSAGES, max_tokens=2).choices


def test_a_body_over_the_cap_gets_413_without_being_read_whole(upstream):
    with ProxyServer(upstream_url=upstream.base_url, model="m", max_body_bytes=1_000_000) as p:
        declared = 10 * 1024 * 1024
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {declared}\r\n\r\n")
        started = time.monotonic()
        raw = raw_request(p, head, b"{" + b" " * 1000)  # 1 KB of the announced 10 MB: the rest never comes
        assert status_of(raw) == 413 and time.monotonic() - started < 4  # answered without waiting for the rest
        assert b'"request_too_large"' in raw
        # Without a Content-Length (chunked), the cap holds while reading.
        chunk = b"x" * 600_000
        chunked = b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(3)) + b"0\r\n\r\n"
        raw = raw_request(p, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", chunked)
        assert status_of(raw) == 413
    assert upstream.requests == []


def test_a_request_smuggled_in_an_unauthorised_body_is_never_answered(upstream):
    with ProxyServer(upstream_url=upstream.base_url, model="m", token=TOKEN) as p:
        hidden = f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n"
                f"Content-Length: {len(hidden)}\r\n\r\n")
        raw = raw_request(p, head, hidden, read_s=2)
    assert status_of(raw) == 401
    assert raw.count(b"HTTP/1.1 ") == 1 and b"up-model" not in raw and b'"object": "list"' not in raw


def test_a_hanging_upstream_gives_a_timeout_error_within_the_configured_time():
    with LoopbackServer(faults=Faults(hang=1.0, hang_s=30)) as hanging, \
            ProxyServer(upstream_url=hanging.base_url, model="m", request_timeout_s=2, upstream_timeout_s=1) as p:
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as info:
            client(p, timeout=20).chat.completions.create(model="m", messages=MESSAGES,
                                                          extra_body={"goal": "verbosity=1", "budget": 1})
        elapsed = time.monotonic() - started
    assert info.value.status_code == 504 and error_of(info.value.response)["code"] == "timeout"
    assert elapsed < 4


def test_the_request_id_round_trips_and_usage_comes_back_as_headers(proxy, upstream):
    raw = client(proxy).chat.completions.with_raw_response.create(
        model="m", messages=MESSAGES, max_tokens=4, extra_headers={"X-Request-ID": "trace-42"},
        extra_body={"goal": "verbosity=1", "budget": 2, "method": "best_of_n"})
    assert raw.headers["x-request-id"] == "trace-42"
    assert raw.headers["x-hia-policy-calls"] == "2" == str(len(upstream.requests))
    assert raw.headers["x-hia-budget"] == "2" and raw.headers["x-hia-method"] == "best_of_n"
    with pytest.raises(urllib.error.HTTPError) as missing:  # a route it does not serve echoes the id too
        urllib.request.urlopen(urllib.request.Request(proxy.base_url + "/nowhere", headers={"X-Request-ID": "trace-43"}))
    assert missing.value.code == 404 and missing.value.headers["X-Request-ID"] == "trace-43"
    made = client(proxy).models.with_raw_response.list()
    assert made.headers["x-request-id"].startswith("req-")  # one is made when none is sent
    with urllib.request.urlopen(urllib.request.Request(proxy.base_url + "/models", headers={
            "X-Request-ID": "bad id\twith spaces"})) as r:
        assert r.headers["X-Request-ID"].startswith("req-")  # an unsafe id is not echoed


def test_liveness_touches_nothing_and_readiness_asks_the_upstream():
    with LoopbackServer() as up:
        url = up.base_url
        with ProxyServer(upstream_url=url, model="m") as p:
            root = p.base_url.removesuffix("/v1")
            with urllib.request.urlopen(root + "/ready") as r:
                assert json.loads(r.read())["status"] == "ready"
        assert up.requests == []  # readiness lists models; it makes no chat call
    with ProxyServer(upstream_url=url, model="m") as p:  # the upstream is gone now
        root = p.base_url.removesuffix("/v1")
        with urllib.request.urlopen(root + "/health") as r:
            assert json.loads(r.read())["status"] == "ok"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(root + "/ready")
        assert info.value.code == 503


def test_a_stream_starts_within_a_second_though_the_search_takes_longer():
    with LoopbackServer(latency_s=1.5) as slow, \
            ProxyServer(upstream_url=slow.base_url, model="m",
                        stream_keepalive_s=0.5) as p:
        request = urllib.request.Request(p.base_url + "/chat/completions", data=json.dumps({
            "messages": MESSAGES, "max_tokens": 6, "stream": True, "goal": "verbosity=1", "budget": 2,
            "method": "best_of_n"}).encode(), headers={"Content-Type": "application/json"})
        started = time.monotonic()
        with urllib.request.urlopen(request) as r:
            first = r.readline()
            first_at = time.monotonic() - started
            rest = r.read().decode()
        total = time.monotonic() - started
    assert first.startswith(b"data: ") and json.loads(first[6:])["choices"][0]["delta"]["role"] == "assistant"
    assert first_at < 1.0 < total  # the role chunk came before the first upstream answer
    assert ": searching" in rest and rest.rstrip().endswith("data: [DONE]")
    chunks = [json.loads(line[6:]) for line in rest.splitlines() if line.startswith("data: {")]
    assert len(" ".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]).split()) == 6


def test_a_hundred_concurrent_aligned_requests_connect_at_once_and_all_complete():
    # Each upstream answer takes 2.5 s, far longer than the proxy takes to pass a hundred requests
    # on: had anything on the way (a pool, a semaphore, a worker) a cap under 90, the upstream
    # could never see more than that cap at once.
    with LoopbackServer(latency_s=2.5) as up, \
            ProxyServer(upstream_url=up.base_url, model="m") as p:
        async def one(c: openai.AsyncOpenAI, i: int) -> str:
            reply = await c.chat.completions.create(model="m", messages=[{"role": "user", "content": f"Question {i}?"}],
                                                    max_tokens=3, extra_body={"goal": "verbosity=1", "budget": 1,
                                                                               "method": "best_of_n"})
            return reply.choices[0].message.content

        async def all_at_once() -> list:
            # one client (and connection pool) per request, so a hundred connections open together
            clients = [openai.AsyncOpenAI(base_url=p.base_url, api_key="x", max_retries=0, timeout=60)
                       for _ in range(100)]
            try:
                return await asyncio.gather(*(one(c, i) for i, c in enumerate(clients)), return_exceptions=True)
            finally:
                await asyncio.gather(*(c.close() for c in clients))

        answers = asyncio.run(all_at_once())
    failures = [a for a in answers if isinstance(a, BaseException)]
    assert failures == [] and len(up.requests) == 100
    assert up.max_in_flight >= 90  # the upstream saw them together, not a handful at a time


def test_proxy_limits_are_checked(upstream):
    from hia import InputError

    for bad in ({"max_body_bytes": 0}, {"request_timeout_s": -1}, {"upstream_timeout_s": "soon"}):
        with pytest.raises(InputError, match="must be a positive number"):
            ProxyServer(upstream_url=upstream.base_url, model="m", **bad)


def test_the_proxy_thread_stops(upstream):
    p = ProxyServer(upstream_url=upstream.base_url, model="m").start()
    p.stop()
    assert not any(t.name == "hia-serve" for t in threading.enumerate())
    with pytest.raises(OSError):
        socket.create_connection((p.host, p.port), timeout=1)


def test_headers_that_never_finish_are_timed_out_and_one_client_cannot_hold_every_connection(upstream):
    with ProxyServer(upstream_url=upstream.base_url, model="m", header_timeout_s=1.0,
                     max_connections_per_client=4) as p:
        slow = [socket.create_connection((p.host, p.port), timeout=5) for _ in range(4)]
        for sock in slow:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        over = socket.create_connection((p.host, p.port), timeout=5)
        assert over.recv(1) == b""  # a fifth from the same address: closed at once
        over.close()
        # each closed by the proxy after the 1 s limit (a socket still open would time out at 5 s and raise)
        assert all(sock.recv(1) == b"" for sock in slow)
        for sock in slow:
            sock.close()
        time.sleep(0.2)  # the closes reach the proxy: the address has its connections back
        ok = openai.OpenAI(base_url=p.base_url, api_key="x", max_retries=0).chat.completions.create(
            model="m", messages=MESSAGES, max_tokens=2)
        assert ok.choices[0].message.content


def test_unknown_routes_need_the_token_slashes_do_not_redirect_and_bad_stream_options_are_a_400(upstream):
    with ProxyServer(upstream_url=upstream.base_url, model="m", token=TOKEN) as p:
        root = p.base_url.removesuffix("/v1")
        for path, token, status in (("/v1/secret-route", None, 401), ("/v1/secret-route", TOKEN, 404),
                                    ("/health/", TOKEN, 404), ("/v1/chat/completions", TOKEN, 405)):
            request = urllib.request.Request(root + path, headers={"Authorization": f"Bearer {token}"} if token else {})
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request)
            assert info.value.code == status, path
            assert info.value.headers["X-Request-ID"]
            assert error_of_raw(info.value)["code"] == {401: "invalid_api_key", 404: "not_found",
                                                        405: "method_not_allowed"}[status]
        body = json.dumps({"messages": MESSAGES, "stream": True, "stream_options": "x"}).encode()
        request = urllib.request.Request(p.base_url + "/chat/completions", data=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request)
        assert info.value.code == 400 and "stream_options must be an object" in error_of_raw(info.value)["message"]
    assert upstream.requests == []


def error_of_raw(error: urllib.error.HTTPError) -> dict:
    payload = json.loads(error.read())["error"]
    assert set(payload) == {"message", "type", "param", "code"}
    return payload
