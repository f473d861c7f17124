"""An OpenAI-compatible proxy that aligns answers: `hia serve --upstream URL --model NAME`.

Routes: POST /v1/chat/completions, GET /v1/models, GET /health. A request is aligned when it
names a goal: in its body (what `extra_body` sends: top-level `goal`/`budget`/`method`, or an
`hia` object), in headers (`X-HIA-Goal`, `X-HIA-Budget`, `X-HIA-Method`), or through the
profile of its `user`. Otherwise it is passed to the upstream as it is. `stream: true` streams
the chosen answer as server-sent events. Usage in responses sums every internal call.

The proxy binds 127.0.0.1 unless told otherwise, and refuses any other address unless a bearer
token is set; with a token, every request must carry `Authorization: Bearer <token>`. The
upstream key and the token never appear in logs or error messages.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai

from . import _defaults as D
from .client import AlignedClient, check_request, wrap
from ._chat import check_url
from .errors import EndpointError, HiaError, InputError, redact
from .profiles import ProfileStore

log = logging.getLogger("hia.serve")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
HEADER_FIELDS = {"x-hia-goal": "goal", "x-hia-budget": "budget", "x-hia-method": "method", "x-hia-objective": "objective"}


def _http_error(exc: Exception) -> tuple[int, str, str]:
    """Status, error type and message for a failed request. Bad input (GoalError, InputError and
    other ValueErrors, bad arguments) is the caller's 400; an upstream failure is a 502. Errors
    raised by the openai client itself are named but not quoted: their text may echo the upstream
    reply, which can hold the key that was sent."""
    message = f"{type(exc).__name__}: request failed" if isinstance(exc, openai.OpenAIError) else str(exc)
    if isinstance(exc, (ValueError, TypeError)):
        return 400, "invalid_request_error", message
    if isinstance(exc, (EndpointError, openai.OpenAIError)):
        return 502, "upstream_error", message
    return 500, "server_error", message


class ProxyServer:
    def __init__(self, *, upstream_url: str, model: str, api_key: str | None = None, host: str = "127.0.0.1",
                 port: int = 0, token: str | None = None, profiles: ProfileStore | None = None,
                 **wrap_options: Any) -> None:
        if host not in LOOPBACK and not token:
            raise InputError(f"refusing to bind {host}: serving beyond this machine needs a bearer token "
                             "(set HIA_SERVE_TOKEN, or pass token=...)")
        if token is not None and (len(token) < D.MIN_TOKEN_CHARS or any(ch.isspace() for ch in token)):
            raise InputError(f"the bearer token must be at least {D.MIN_TOKEN_CHARS} characters with no spaces; make "
                             "one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        check_url(upstream_url, "--upstream")
        self.model = model
        self.host, self.port = host, port
        self._token = token
        self._secrets = [api_key, token]  # redacted from every message the proxy sends or logs
        # hia's own timeout, not the openai client's default of 600 s
        upstream = openai.OpenAI(base_url=upstream_url, api_key=api_key or "not-needed", timeout=D.REQUEST_TIMEOUT_S)
        self.client: AlignedClient = wrap(upstream, profiles=profiles, **wrap_options)  # type: ignore[assignment]
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def authorised(self, header: str | None) -> bool:
        if not self._token:
            return True
        expected = f"Bearer {self._token}"
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())

    def start(self) -> "ProxyServer":
        proxy = self

        class Handler(_Handler):
            server_proxy = proxy

        try:
            self._httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        except OSError as exc:
            raise InputError(f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); is another server "
                             "using the port? Choose another with --port (0 picks a free one)") from None
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hia-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.client.close()

    def __enter__(self) -> "ProxyServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the work of one chat request ----------------------------------------------------------
    def complete(self, body: dict, headers: dict[str, str]) -> dict:
        kwargs = dict(body)
        kwargs["model"] = self.model  # the proxy serves one upstream model, whatever name a client sends
        kwargs.pop("stream", None)
        kwargs.pop("stream_options", None)
        for header, field in HEADER_FIELDS.items():
            if headers.get(header) and field not in kwargs:
                kwargs[field] = headers[header]
        known = {"model", "messages", "user", "goal", "budget", "method", "objective", "hia", "temperature", "top_p",
                 "max_tokens", "max_completion_tokens", "stop", "presence_penalty", "frequency_penalty", "seed",
                 "logit_bias", "n", "response_format", "tools", "tool_choice", "logprobs", "top_logprobs"}
        extra = {k: kwargs.pop(k) for k in list(kwargs) if k not in known}
        if "hia" in kwargs:
            extra["hia"] = kwargs.pop("hia")
        if extra:
            kwargs["extra_body"] = extra
        check_request(kwargs)
        completion = self.client.chat.completions.create(**kwargs)
        return completion.model_dump(exclude_none=True)


class _Handler(BaseHTTPRequestHandler):
    server_proxy: ProxyServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # request lines only: never headers or bodies
        log.info("%s %s", self.address_string(), format % args)

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, kind: str, message: str) -> None:
        message = redact(message, self.server_proxy._secrets)
        self._json(status, {"error": {"message": message, "type": kind, "code": status}})

    def _allowed(self) -> bool:
        if self.server_proxy.authorised(self.headers.get("Authorization")):
            return True
        self._error(401, "authentication_error", "missing or wrong bearer token")
        return False

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        path = self.path.split("?")[0].rstrip("/")
        if not self._allowed():  # with a token set, every route needs it, /health included
            return
        if path in ("/health", "/v1/health"):
            self._json(200, {"status": "ok", "model": self.server_proxy.model})
        elif path == "/v1/models":
            self._json(200, {"object": "list", "data": [
                {"id": self.server_proxy.model, "object": "model", "created": 0, "owned_by": "hia"}]})
        else:
            self._error(404, "not_found", f"no route {path}")

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?")[0].rstrip("/")
        if not self._allowed():
            return
        if path != "/v1/chat/completions":
            self._error(404, "not_found", f"no route {path}")
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if not isinstance(body, dict):
                raise InputError("the request body must be a JSON object")
            headers = {k.lower(): v for k, v in self.headers.items()}
            completion = self.server_proxy.complete(body, headers)
        except json.JSONDecodeError as exc:
            self._error(400, "invalid_request_error", f"the request body is not valid JSON: {exc.msg}")
            return
        except (HiaError, ValueError, TypeError, openai.OpenAIError) as exc:
            self._error(*_http_error(exc))
            return
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(completion, include_usage)
        else:
            self._json(200, completion)

    def _stream(self, completion: dict, include_usage: bool) -> None:
        """The chosen answer as chat.completion.chunk events, a few words per event."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        choice = completion["choices"][0]
        text = choice["message"].get("content") or ""
        base = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion.get("created", int(time.time())),
                "model": completion["model"]}

        def send(delta: dict, finish: str | None = None, usage: dict | None = None) -> None:
            chunk = {**base, "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if usage:
                chunk["usage"] = usage
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        send({"role": "assistant", "content": ""})
        words = text.split(" ")
        for start in range(0, len(words), 8):
            piece = " ".join(words[start:start + 8])
            send({"content": piece if start == 0 else " " + piece})
        send({}, choice.get("finish_reason") or "stop")
        if include_usage and completion.get("usage"):
            send({}, usage=completion["usage"])
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
