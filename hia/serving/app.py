"""The proxy's ASGI app (Starlette): routes, the bearer token, request ids, body limits.

Routes: POST /v1/chat/completions, POST /v1/responses, GET /v1/models, GET /health (liveness:
touches nothing), GET /ready (readiness: asks the upstream for its models), GET /metrics
(Prometheus text; behind the token unless `metrics_public`). A chat or Responses request is
aligned when it names a goal: in its body (what `extra_body` sends: top-level
`goal`/`budget`/`method`, or an `hia` object), in headers (`X-HIA-Goal`, `X-HIA-Budget`,
`X-HIA-Method`), or through the profile of its `user`. Otherwise it is passed to the upstream as
it is.

Every response carries `X-Request-ID` (the caller's, or a new one), which the log line of the
request names too; log lines never hold headers or bodies.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import openai
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hia import _defaults as D
from hia.core.tracing import annotate, capture, span, within
from hia.errors import EndpointError, HiaError, InputError, redact
from hia.serving.errors import ProxyError, as_proxy_error, error_body, error_response
from hia.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from hia.serving.metrics import ProxyMetrics
from hia.serving.protocol import ChatRequest
from hia.serving.responses import in_progress
from hia.serving.spend import UserSpend
from hia.serving.streaming import stream_completion, stream_response
from hia.serving.wrapper import AsyncAlignedClient

log = logging.getLogger("hia.serving")
HEADER_FIELDS = {"x-hia-goal": "goal", "x-hia-budget": "budget", "x-hia-method": "method", "x-hia-objective": "objective"}
# Fields a chat request may carry that the upstream API takes as arguments; any other goes in extra_body.
OPENAI_FIELDS = frozenset({
    "model", "messages", "user", "goal", "budget", "method", "objective", "hia", "temperature", "top_p", "max_tokens",
    "max_completion_tokens", "stop", "presence_penalty", "frequency_penalty", "seed", "logit_bias", "n",
    "response_format", "tools", "tool_choice", "functions", "function_call", "logprobs", "top_logprobs", "verbosity",
    "reasoning_effort"})
# The same for a Responses request.
RESPONSES_FIELDS = frozenset({
    "model", "input", "instructions", "user", "goal", "budget", "method", "objective", "hia", "temperature", "top_p",
    "max_output_tokens", "text", "tools", "tool_choice", "parallel_tool_calls", "previous_response_id", "conversation",
    "prompt", "background", "reasoning", "metadata", "store", "include", "truncation", "service_tier",
    "safety_identifier", "prompt_cache_key", "max_tool_calls", "top_logprobs"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CLOSE = {"Connection": "close"}  # after an early refusal, the unread body must never be read as a request


@dataclass
class ProxyConfig:
    """What the app needs: the wrapped upstream client and the limits."""

    client: AsyncAlignedClient
    model: str
    token: str | None = None
    secrets: list[str | None] = field(default_factory=list)  # redacted from every message sent or logged
    max_body_bytes: int = D.SERVE_MAX_BODY_BYTES
    body_timeout_s: float = D.SERVE_BODY_TIMEOUT_S
    request_timeout_s: float = D.SERVE_REQUEST_TIMEOUT_S
    ready_timeout_s: float = D.SERVE_READY_TIMEOUT_S
    stream_keepalive_s: float = D.SERVE_STREAM_KEEPALIVE_S
    trace: Any = None  # a hia.serving.trace.TraceWriter: one JSON line per aligned request, for `hia export-pairs`
    metrics: ProxyMetrics = field(default_factory=ProxyMetrics)
    metrics_public: bool = False  # GET /metrics without the bearer token (for a scraper inside the network)

    def authorised(self, header: str | None) -> bool:
        if not self.token:
            return True
        return header is not None and hmac.compare_digest(header.encode(), f"Bearer {self.token}".encode())


def create_kwargs(body: dict, headers: dict[str, str], model: str, fields: frozenset[str] = OPENAI_FIELDS) -> dict[str, Any]:
    """The create() arguments for a request body: the served model, hia's header fields, and
    fields the endpoint's API does not take (`fields`) moved to extra_body."""
    kwargs = dict(body)
    kwargs["model"] = model  # the proxy serves one upstream model, whatever name a client sends
    kwargs.pop("stream", None)
    kwargs.pop("stream_options", None)
    for header, name in HEADER_FIELDS.items():
        if headers.get(header) and name not in kwargs:
            kwargs[name] = headers[header]
    extra = {k: kwargs.pop(k) for k in list(kwargs) if k not in fields}
    if "hia" in kwargs:
        extra["hia"] = kwargs.pop("hia")
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


async def read_json(request: Request, limit: int, timeout_s: float) -> dict:
    """The request's JSON object, refused with 413 past `limit` bytes (before reading, when the
    Content-Length says so) and with 408 when the body is slower than `timeout_s`."""
    declared = request.headers.get("content-length")
    too_large = f"the request body is over the proxy's limit of {limit} bytes; send less, or raise max_body_bytes"
    if declared is not None:
        if not declared.isdigit():
            raise ProxyError(400, "invalid_request_error", "Content-Length is not a number", code="invalid_request",
                             headers=CLOSE)
        if int(declared) > limit:
            raise ProxyError(413, "invalid_request_error", too_large, code="request_too_large", headers=CLOSE)

    async def collect() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ProxyError(413, "invalid_request_error", too_large, code="request_too_large", headers=CLOSE)
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        raw = await asyncio.wait_for(collect(), timeout_s)
    except TimeoutError:
        raise ProxyError(408, "invalid_request_error", f"the request body did not arrive within {timeout_s:g} s",
                         code="request_timeout", headers=CLOSE) from None
    body = json.loads(raw or b"{}")
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object")
    return body


def lower_headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def request_id_of(request: Request) -> str:
    """The caller's X-Request-ID when it is safe to echo, else a new one."""
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else f"req-{uuid.uuid4().hex}"


def usage_headers(completion: Any) -> dict[str, str]:
    """hia's spend on one aligned request, as response headers."""
    result = getattr(completion, "alignment", None)
    if result is None:
        return {}
    return {"X-HIA-Policy-Calls": str(result.usage.policy_calls), "X-HIA-Optimizer-Calls": str(result.usage.optimizer_calls),
            "X-HIA-Budget": str(result.budget), "X-HIA-Method": str(result.method), "X-HIA-Goal": str(result.goal)}


class ProxyApp:
    """The routes, over one ProxyConfig."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config

    def build(self) -> Starlette:
        routes = [Route("/health", self._guard(self.health)), Route("/v1/health", self._guard(self.health)),
                  Route("/metrics", self._guard(self.metrics, public=self.config.metrics_public)),
                  Route("/ready", self._guard(self.ready)), Route("/v1/models", self._guard(self.models)),
                  Route("/v1/chat/completions", self._guard(self.chat), methods=["POST"]),
                  Route("/v1/responses", self._guard(self.responses), methods=["POST"])]
        app = Starlette(routes=routes, lifespan=self._lifespan,
                        exception_handlers={HTTPException: self._http_exception})  # type: ignore[dict-item]
        app.router.redirect_slashes = False  # /health/ is a 404, not a redirect to /health
        return app

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.config.client.close()

    # -- around every route -------------------------------------------------------------------
    def _guard(self, route: Callable[[Request], Awaitable[Response]], *,
               public: bool = False) -> Callable[[Request], Awaitable[Response]]:
        """Auth (unless `public`), the request id, errors in the OpenAI shape, the request's metrics
        and one log line per request."""

        async def endpoint(request: Request) -> Response:
            request.state.request_id = request_id = request_id_of(request)
            started = time.perf_counter()
            try:
                if not public and not self.config.authorised(request.headers.get("authorization")):
                    raise ProxyError(401, "authentication_error", "missing or wrong bearer token",
                                     code="invalid_api_key", headers=CLOSE)
                with span("hia.request", request_id=request_id, route=request.url.path) as current:
                    response = await route(request)
                    annotate(current, status=response.status_code)
            except Exception as exc:  # noqa: BLE001 - every failure is answered, never a dropped connection
                error = as_proxy_error(exc)
                if error.status >= 500:
                    log.warning("%s %s", request_id, redact(f"{type(exc).__name__}: {exc}", self.config.secrets))
                if isinstance(exc, (openai.APIError, EndpointError)):
                    self.config.metrics.upstream_error(type(exc).__name__)
                response = error_response(error, self.config.secrets)
            response.headers["X-Request-ID"] = request_id
            seconds = time.perf_counter() - started
            self.config.metrics.request(request.url.path, response.status_code, seconds)
            log.info("%s %s %s %d %.0f ms", request_id, request.method, request.url.path, response.status_code,
                     1000 * seconds)
            return response

        return endpoint

    async def _http_exception(self, request: Request, exc: HTTPException) -> Response:
        if not self.config.authorised(request.headers.get("authorization")):  # which routes exist is not public
            return error_response(ProxyError(401, "authentication_error", "missing or wrong bearer token",
                                             code="invalid_api_key"), self.config.secrets,
                                  headers={"X-Request-ID": request_id_of(request), **CLOSE})
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        message = f"no route {request.method} {request.url.path}"
        return error_response(ProxyError(exc.status_code, kind, message, code="not_found" if exc.status_code == 404
                                         else "method_not_allowed"), self.config.secrets,
                              headers={"X-Request-ID": request_id_of(request), **CLOSE})

    def _trace(self, request: Request, chat: ChatRequest, result: Any, error: Exception | None = None) -> None:
        """One line per aligned request in the trace file: the whole result, never a header or key."""
        if self.config.trace is None or result is None:
            return
        record = {"id": request.state.request_id, "time": round(time.time(), 3), "user": chat.user,
                  "status": "ok" if error is None else "error", "result": result.to_dict()}
        if error is not None:
            record["error"] = {"type": type(error).__name__, "message": redact(str(error), self.config.secrets)}
        self.config.trace.write(record)

    # -- routes -------------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": self.config.model})

    async def ready(self, request: Request) -> Response:
        upstream: openai.AsyncOpenAI = self.config.client.wrapped
        try:
            await asyncio.wait_for(upstream.with_options(max_retries=0).models.list(), self.config.ready_timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            error = as_proxy_error(exc)
            body = error_body(ProxyError(503, "upstream_error", f"not ready: {error}", code="upstream_unavailable"),
                              self.config.secrets)
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "model": self.config.model})

    async def metrics(self, request: Request) -> Response:
        return Response(self.config.metrics.text(), media_type=METRICS_CONTENT_TYPE)

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": self.config.model, "object": "model", "created": 0, "owned_by": "hia"}]})

    async def _answer(self, request: Request, chat: ChatRequest, work: Awaitable[Any], spend: UserSpend | None) -> Any:
        """`work`'s answer within the request timeout, with its alignment written to the trace and
        counted in the metrics."""
        timeout = self.config.request_timeout_s
        try:
            answer = await asyncio.wait_for(work, timeout)
        except TimeoutError:
            raise ProxyError(504, "timeout", f"the request did not finish within {timeout:g} s", code="timeout") from None
        except HiaError as exc:
            self._trace(request, chat, exc.result, error=exc)
            if exc.result is not None:
                self.config.metrics.alignment(exc.result, "error")
            raise
        alignment = getattr(answer, "alignment", None)
        self._trace(request, chat, alignment)
        if alignment is not None:
            self.config.metrics.alignment(alignment, "ok")
        if spend is not None and spend.budget is not None and spend.profile.daily_calls is not None:
            limit = spend.profile.daily_calls
            self.config.metrics.user_spend(spend.profile.user, limit - spend.budget.remaining, limit)
        return answer

    def _stream(self, events: AsyncIterator[bytes]) -> StreamingResponse:
        return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    def _error_body(self, exc: BaseException) -> dict:
        return error_body(as_proxy_error(exc), self.config.secrets)

    async def chat(self, request: Request) -> Response:
        config = self.config
        body = await read_json(request, config.max_body_bytes, config.body_timeout_s)
        # Parsed once, before anything is sent: a bad goal, budget or method is a 400 now, rather
        # than an error inside a stream already begun.
        chat = config.client.parse(create_kwargs(body, lower_headers(request), config.model))
        spend = config.client.user_spend(chat)  # a user past its daily limit gets 429 now, even on a stream
        stream_options = body.get("stream_options") or {}
        if not isinstance(stream_options, dict):
            raise InputError('stream_options must be an object such as {"include_usage": true}')
        if body.get("stream"):
            trace_context = capture()  # the search runs after this route returns: keep it in the request's trace

            async def as_dict() -> dict:
                with within(trace_context):
                    answer = await self._answer(request, chat, config.client.complete(chat), spend)
                return answer.model_dump(exclude_none=True)

            return self._stream(stream_completion(
                as_dict(), model=config.model, include_usage=bool(stream_options.get("include_usage")),
                error_body=self._error_body, keepalive_s=config.stream_keepalive_s))
        completion = await self._answer(request, chat, config.client.complete(chat), spend)
        return JSONResponse(completion.model_dump(exclude_none=True), headers=usage_headers(completion))

    async def responses(self, request: Request) -> Response:
        config = self.config
        body = await read_json(request, config.max_body_bytes, config.body_timeout_s)
        asked = config.client.parse_responses(create_kwargs(body, lower_headers(request), config.model, RESPONSES_FIELDS))
        spend = config.client.user_spend(asked.chat)
        if body.get("stream"):
            trace_context = capture()

            async def as_dict() -> dict:
                with within(trace_context):
                    answer = await self._answer(request, asked.chat, config.client.respond(asked), spend)
                return answer.model_dump(exclude_none=True)

            return self._stream(stream_response(as_dict(), created=in_progress(asked, config.model),
                                                error_body=self._error_body, keepalive_s=config.stream_keepalive_s))
        answer = await self._answer(request, asked.chat, config.client.respond(asked), spend)
        return JSONResponse(answer.model_dump(exclude_none=True), headers=usage_headers(answer))
