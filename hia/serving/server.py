"""`ProxyServer`: the proxy's app on uvicorn, in the foreground (`hia serve`) or in a background
thread (tests, notebooks, programs that embed it)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import openai
import uvicorn

from hia import _defaults as D
from hia.errors import InputError, check_type
from hia.models.chat import check_url, public_url
from hia.models.ratelimit import Pace, RateLimiter
from hia.models.shared_ratelimit import RedisRateLimiter
from hia.rewards.policy_memory import policy_key
from hia.serving.app import ProxyApp, ProxyConfig
from hia.serving.connections import guarded_protocol
from hia.serving.profiles import ProfileStore
from hia.serving.shared_spend import RedisDailyLimits
from hia.serving.trace import TraceOptions, TraceWriter
from hia.serving.wrapper import AsyncAlignedClient, wrap
from hia.storage.jsonl import check_not_an_input
from hia.storage.redis_store import RedisStore

log = logging.getLogger("hia.serving")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bound here, not inside uvicorn, so a port in use is a clear error in the caller's thread
    and port 0 tells which free port it got."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); is another server using the port? "
                         "Choose another with --port (0 picks a free one)") from None
    sock.listen(D.SERVE_BACKLOG)
    return sock


class ProxyServer:
    """An OpenAI-compatible proxy that aligns answers (see hia.serving.app for the routes).

    It binds 127.0.0.1 unless told otherwise, and refuses any other address unless a bearer token
    is set; with a token, every request must carry `Authorization: Bearer <token>`. The upstream
    key and the token never appear in logs or error messages. With `redis_url`, the users' daily
    limits and the `rate_limit` (requests per second to the upstream) are kept in Redis and shared
    by every replica that names it; without, they hold in this process. Options beyond the limits
    below go to `hia.wrap` (pipeline, optimizer, method, ...)."""

    def __init__(self, *, upstream_url: str, model: str, api_key: str | None = None, host: str = "127.0.0.1",
                 port: int = 0, token: str | None = None, profiles: ProfileStore | None = None,
                 upstream_timeout_s: float = D.REQUEST_TIMEOUT_S, max_body_bytes: int = D.SERVE_MAX_BODY_BYTES,
                 request_timeout_s: float = D.SERVE_REQUEST_TIMEOUT_S,
                 stream_keepalive_s: float = D.SERVE_STREAM_KEEPALIVE_S, trace: str | Path | None = None,
                 redis_url: str | None = None, rate_limit: float | None = None, metrics_public: bool = False,
                 trace_options: TraceOptions = TraceOptions(), header_timeout_s: float = D.SERVE_HEADER_TIMEOUT_S,
                 max_connections_per_client: int = D.SERVE_MAX_CONNECTIONS_PER_CLIENT, **wrap_options: Any) -> None:
        if host not in LOOPBACK and not token:
            raise InputError(f"refusing to bind {host}: serving beyond this machine needs a bearer token "
                             "(set HIA_SERVE_TOKEN, or pass token=...)")
        if token is not None and (len(token) < D.MIN_TOKEN_CHARS or not token.isascii() or not token.isprintable()
                                  or any(ch.isspace() for ch in token)):
            # an HTTP header carries ASCII only: a token with other characters could never be sent
            raise InputError(f"the bearer token must be at least {D.MIN_TOKEN_CHARS} printable ASCII characters with no "
                             "spaces; make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InputError(f"the port must be a whole number from 0 to 65535 (0 picks a free one), got {port!r}")
        for name, value in (("max_body_bytes", max_body_bytes), ("request_timeout_s", request_timeout_s),
                            ("upstream_timeout_s", upstream_timeout_s), ("stream_keepalive_s", stream_keepalive_s),
                            ("header_timeout_s", header_timeout_s),
                            ("max_connections_per_client", max_connections_per_client)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InputError(f"{name} must be a positive number, got {value!r}")
        check_url(upstream_url, "--upstream")
        check_type("profiles", profiles, ProfileStore, "a hia.serving.profiles.ProfileStore")
        if trace is not None and profiles is not None:
            check_not_an_input(trace, [profiles.path], "--trace")  # appending to the profiles database corrupts it
        self.model = model
        self.host, self.port = host, port
        self.header_timeout_s, self.max_connections_per_client = float(header_timeout_s), int(max_connections_per_client)
        # hia's own timeout, not the openai client's default of 600 s
        upstream = openai.AsyncOpenAI(base_url=upstream_url, api_key=api_key or "not-needed", timeout=upstream_timeout_s)
        # With Redis, every replica that names it shares the users' days and the upstream's rate.
        self.redis = RedisStore(redis_url) if redis_url else None
        limiter: Pace | None = None
        if self.redis is not None:
            self.redis.check()  # a replica that cannot meter refuses to start
            if profiles is not None:
                wrap_options["limits"] = RedisDailyLimits(profiles, self.redis)
            if rate_limit is not None:
                limiter = RedisRateLimiter(self.redis, policy_key(public_url(upstream_url), model), rate_limit)
        elif rate_limit is not None:
            limiter = RateLimiter(rate_limit)
        self.client: AsyncAlignedClient = wrap(upstream, profiles=profiles, rate_limiter=limiter,  # type: ignore[assignment]
                                               **wrap_options)
        self.config = ProxyConfig(client=self.client, model=model, token=token, secrets=[api_key, token],
                                  max_body_bytes=int(max_body_bytes), request_timeout_s=float(request_timeout_s),
                                  stream_keepalive_s=float(stream_keepalive_s), metrics_public=metrics_public,
                                  trace=TraceWriter(Path(trace), trace_options) if trace is not None else None)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def _uvicorn(self) -> uvicorn.Server:
        config = uvicorn.Config(ProxyApp(self.config).build(), log_config=None, access_log=False, lifespan="on",
                                backlog=D.SERVE_BACKLOG, timeout_keep_alive=int(D.SERVE_KEEPALIVE_S),
                                ws="none", server_header=False,
                                http=guarded_protocol(self.header_timeout_s, self.max_connections_per_client))
        return uvicorn.Server(config)

    def listen(self) -> ProxyServer:
        """Bind the address now (port 0 picks a free port, then `base_url` names it); serving starts later."""
        if self._socket is None:
            self._socket = _listening_socket(self.host, self.port)
            self.port = self._socket.getsockname()[1]
        return self

    def start(self) -> ProxyServer:
        """Serve in a background thread; returns once the server accepts connections."""
        sock = self.listen()._socket
        assert sock is not None
        self._socket = None
        self._server = server = self._uvicorn()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name="hia-serve", daemon=True)
        self._thread.start()
        while not server.started and self._thread.is_alive():
            self._thread.join(0.02)
        if not server.started:
            raise InputError(f"the proxy did not start: {failure[0] if failure else 'unknown reason'}")
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C stops it cleanly)."""
        sock = self.listen()._socket
        assert sock is not None
        self._socket = None
        self._server = self._uvicorn()
        try:
            self._server.run(sockets=[sock])
        finally:
            sock.close()
            self.stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(D.SERVE_STOP_TIMEOUT_S)
            self._thread = None
        self._server = None
        if self.config.trace is not None:
            self.config.trace.close()

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
