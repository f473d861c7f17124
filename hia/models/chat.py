"""One OpenAI-compatible chat endpoint: the official `openai` client plus retries and usage.

The policy, the LLM optimizer and the LLM judge all talk to endpoints through this module, so
they share one retry policy (tenacity: 429, 5xx, timeouts, connection errors and garbled
replies are retried with exponential backoff, honouring Retry-After) and one way of turning
failures into typed errors that never contain the API key.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import json
import math
import re
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import urlsplit, urlunsplit

import openai
import tenacity
from openai.types.chat import ChatCompletion

from hia import _defaults as D
from hia.core.loop import LoopThread
from hia.core.tracing import annotate, span
from hia.core.usage import Usage
from hia.errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    EndpointError,
    EndpointUnreachable,
    InputError,
    RetriesExhausted,
    redact,
)
from hia.models.ratelimit import Pace, admitting_http_client

Message = dict[str, str]

_RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APIConnectionError,  # includes APITimeoutError
    openai.APIResponseValidationError,
    json.JSONDecodeError,
)
_CONTEXT_PATTERN = re.compile(r"context|too long|maximum.*tokens|exceeds", re.IGNORECASE)


@dataclass
class ChatReply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    # top_logprobs of the first generated token, {token: logprob}, when asked for
    first_token_logprobs: dict[str, float] = field(default_factory=dict)


def public_url(url: str | None) -> str:
    """The URL without any user:password part, fit for messages and logs."""
    if not url:
        return "https://api.openai.com/v1 (default)"
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_url(url: str | None, option: str = "--base-url") -> None:
    """An endpoint URL must be http(s)://host[:port][/path]; anything else is an InputError."""
    if url is None:
        return
    parts = urlsplit(str(url))
    try:
        port = parts.port  # a port past 65535 raises here
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise InputError(f"{option} {public_url(str(url)) if port != -1 else str(parts.hostname)!r} is not an http(s) "
                         "URL with a valid port; give one like http://127.0.0.1:8000/v1 or https://api.openai.com/v1")


def _retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After or retry-after-ms), if it said."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class _Wait(tenacity.wait.wait_base):
    """Exponential backoff with jitter, replaced by the server's Retry-After when it gives one."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._backoff = tenacity.wait_random_exponential(multiplier=initial, max=maximum)
        self._maximum = maximum

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        asked = _retry_after_seconds(exc) if exc else None
        if asked is not None:
            return min(asked, self._maximum)
        return self._backoff(retry_state)


def _never_connected(exc: BaseException) -> bool:
    """True when no connection was made (refused, no route, DNS), as opposed to one dropped midway.

    Checked by name: openai wraps httpx's (or httpx2's) ConnectError, whichever it ships with."""
    cause = exc.__cause__
    while cause is not None:
        if type(cause).__name__ in ("ConnectError", "ConnectTimeout"):
            return True
        cause = cause.__cause__
    return False


def _status_excerpt(exc: openai.APIStatusError, secrets: Sequence[str | None] = ()) -> str:
    """The upstream's own words about a failed call, redacted (an upstream may echo the key it got)."""
    message = re.sub(r"\s+", " ", str(getattr(exc, "message", "") or ""))
    return redact(message, secrets)[:300]


class _EndpointBase:
    """What the sync and async endpoints share: settings, request shaping, error mapping."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        role: str = "policy",
        timeout: float = D.REQUEST_TIMEOUT_S,
        max_retries: int = D.MAX_RETRIES,
        retry_initial_wait: float = D.RETRY_INITIAL_WAIT_S,
        retry_max_wait: float = D.RETRY_MAX_WAIT_S,
        rate_limiter: Pace | None = None,
    ) -> None:
        check_url(base_url, "base_url")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
            raise InputError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InputError(f"max_retries must be a whole number of at least 0, got {max_retries!r}")
        self.model = model
        self.rate_limiter = rate_limiter  # awaited for every attempt, retries included
        self.base_url = base_url
        self.role = role
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_initial_wait = retry_initial_wait
        self.retry_max_wait = retry_max_wait
        # The key lives only in the client; it is never stored on this object or printed.
        self._client_kwargs: dict[str, Any] = {
            "api_key": api_key or "not-needed",
            "base_url": base_url,
            "timeout": timeout,
            "max_retries": 0,  # tenacity retries instead, so retries are counted
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={public_url(self.base_url)!r}, role={self.role!r})"

    @property
    def api_key(self) -> str | None:
        """The key this endpoint sends (never printed: repr leaves it out)."""
        key = self._client_kwargs.get("api_key")
        return key if isinstance(key, str) and key != "not-needed" else None

    @property
    def _secrets(self) -> list[str | None]:
        return [self.api_key]

    def _retrying_kwargs(self, usage: Usage | None) -> dict[str, Any]:
        def before_sleep(state: tenacity.RetryCallState) -> None:
            if usage is not None:
                usage.record_retry(self.role)
                self._count_malformed(state.outcome.exception() if state.outcome else None, usage)

        return {
            "retry": tenacity.retry_if_exception_type(_RETRYABLE),
            "stop": tenacity.stop_after_attempt(self.max_retries + 1),
            "wait": _Wait(self.retry_initial_wait, self.retry_max_wait),
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def _request(self, messages: Sequence[Message], params: dict[str, Any]) -> dict[str, Any]:
        return {"model": self.model, "messages": list(messages), **{k: v for k, v in params.items() if v is not None}}

    def _reply(self, completion: Any, usage: Usage | None) -> ChatReply:
        try:
            choice = completion.choices[0]
            text = choice.message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise EndpointError(
                f"{self.role} endpoint {public_url(self.base_url)} returned a reply without a message",
                role=self.role,
            ) from None
        tokens = getattr(completion, "usage", None)
        reply = ChatReply(
            text=redact(text, [self.api_key]),  # an upstream that echoes the key never gets it into a result
            prompt_tokens=int(getattr(tokens, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(tokens, "completion_tokens", 0) or 0),
            finish_reason=getattr(choice, "finish_reason", None),
        )
        content = getattr(getattr(choice, "logprobs", None), "content", None)
        if content:
            reply.first_token_logprobs = {t.token: t.logprob for t in (content[0].top_logprobs or [])}
        if usage is not None:
            usage.record_call(self.role, reply.prompt_tokens, reply.completion_tokens)
        return reply

    def _count_malformed(self, exc: BaseException | None, usage: Usage) -> None:
        """A 200 whose body could not be read: the provider answered (and may bill it)."""
        if isinstance(exc, (json.JSONDecodeError, openai.APIResponseValidationError)):
            usage.record_malformed(self.role)

    def _failure(self, exc: BaseException, usage: Usage | None) -> EndpointError:
        if usage is not None:
            usage.record_failure(self.role)
            self._count_malformed(exc, usage)
        where = f"{self.role} endpoint {public_url(self.base_url)} (model {self.model!r})"
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return AuthenticationFailed(
                f"{where} refused the API key (HTTP {exc.status_code}); check the key you passed "
                "or the environment variable it came from",
                role=self.role, status_code=exc.status_code,
            )
        if isinstance(exc, openai.BadRequestError) and _CONTEXT_PATTERN.search(_status_excerpt(exc, self._secrets)):
            return ContextLengthExceeded(
                f"{where}: the prompt does not fit in the model's context window "
                f"({_status_excerpt(exc, self._secrets)}); shorten the prompt or lower max_tokens",
                role=self.role, status_code=exc.status_code,
            )
        if isinstance(exc, openai.NotFoundError):
            return EndpointError(
                f"{where} answered 404: {_status_excerpt(exc, self._secrets)}; check the base URL (it usually ends in /v1) "
                "and the model name",
                role=self.role, status_code=404,
            )
        if isinstance(exc, openai.APIConnectionError) and _never_connected(exc):
            return EndpointUnreachable(
                f"{where} could not be reached after {self.max_retries + 1} attempts; is the server running "
                "and the base URL right?",
                role=self.role,
            )
        if isinstance(exc, _RETRYABLE):
            status = getattr(exc, "status_code", None)
            what = f"HTTP {status}" if status else type(exc).__name__
            return RetriesExhausted(
                f"{where} kept failing ({what}) through {self.max_retries + 1} attempts",
                role=self.role, status_code=status,
            )
        if isinstance(exc, openai.APIStatusError):
            return EndpointError(
                f"{where} answered HTTP {exc.status_code}: {_status_excerpt(exc, self._secrets)}",
                role=self.role, status_code=exc.status_code,
            )
        return EndpointError(f"{where} failed: {type(exc).__name__}", role=self.role)


class AsyncChatEndpoint(_EndpointBase):
    """Asyncio twin, on `openai.AsyncOpenAI`.

    An AsyncOpenAI client's connections belong to the event loop that opened them, so an
    endpoint that made its own client keeps one per running loop: the same policy then works
    under successive `asyncio.run` calls. A client passed in is used as it is.
    """

    def __init__(self, model: str, *, client: openai.AsyncOpenAI | openai.OpenAI | None = None,
                 client_shards: int = D.CLIENT_SHARDS, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        if isinstance(client, openai.OpenAI):
            # A blocking client: make asyncio clients like it (key, URL, headers, timeout) on each loop.
            self._client_kwargs = twin_settings(client)
            client = None
        self.given_client = client  # used as it is, on whichever loop awaits it
        if client is not None:
            self._client_kwargs["api_key"] = client.api_key  # known, so that echoes of it are redacted
        self._shards = max(1, client_shards)
        self._next = itertools.count()
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[openai.AsyncOpenAI]] = (
            weakref.WeakKeyDictionary())

    @property
    def client(self) -> openai.AsyncOpenAI:
        """This loop's next client. Calls are spread over a few clients because a connection
        pool checks every open connection for each new request: one pool with many concurrent
        connections costs more CPU per call than several small ones."""
        if self.given_client is not None:
            return self.given_client
        loop = asyncio.get_running_loop()
        clients = self._per_loop.get(loop)
        if clients is None:
            clients = self._per_loop[loop] = [self._new_client() for _ in range(self._shards)]
        return clients[next(self._next) % len(clients)]

    def _new_client(self) -> openai.AsyncOpenAI:
        if self.rate_limiter is None:
            return openai.AsyncOpenAI(**self._client_kwargs)
        # the limiter's window decides as each request goes out; its slot is awaited in chat()
        return openai.AsyncOpenAI(**self._client_kwargs, http_client=admitting_http_client(self.rate_limiter))

    async def chat(self, messages: Sequence[Message], *, usage: Usage | None = None, **params: Any) -> ChatReply:
        request = self._request(messages, params)
        async def attempt() -> Any:
            client = self.client  # made (on a loop's first call) before the wait: a send counts when it goes
            if self.rate_limiter is not None:
                if self.given_client is None:
                    await self.rate_limiter.slot()  # and the admission as it is sent (_new_client)
                else:
                    await self.rate_limiter.wait()
            # The request is plain JSON already: posting it as it is skips `create`'s walk over
            # the typed parameters, about a fifth of the client's CPU time per call in a profiled
            # batch of 64 concurrent alignments; the reply is read into the same ChatCompletion.
            return await client.post("/chat/completions", body=request, cast_to=ChatCompletion)

        with span("hia.call", role=self.role, model=self.model) as current:
            try:
                completion = await tenacity.AsyncRetrying(**self._retrying_kwargs(usage))(attempt)
            except (openai.OpenAIError, json.JSONDecodeError) as exc:
                raise self._failure(exc, usage) from None
            reply = self._reply(completion, usage)
            annotate(current, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
                     finish_reason=reply.finish_reason)
            return reply

    async def close(self) -> None:
        """Close this loop's clients (or the one passed in)."""
        if self.given_client is not None:
            await self.given_client.close()
            return
        for client in self._per_loop.pop(asyncio.get_running_loop(), []):
            await client.close()


def twin_settings(client: openai.OpenAI) -> dict[str, Any]:
    """What makes an `openai.AsyncOpenAI` talk to the same endpoint as `client`, as it would: the
    key, URL, organisation, project, headers, query and timeout (not a custom http_client)."""
    return {"api_key": client.api_key, "base_url": str(client.base_url), "organization": client.organization,
            "project": client.project, "timeout": client.timeout, "default_headers": custom_headers(client),
            "default_query": dict(client.default_query), "max_retries": 0}


def custom_headers(client: openai.OpenAI) -> dict[str, str]:
    """The headers a caller gave `client`: its default headers less the ones the SDK makes itself
    (auth, content type, user agent, platform), which the new client makes again."""
    own = {"authorization", "accept", "content-type", "user-agent", "openai-organization", "openai-project"}
    return {k: v for k, v in client.default_headers.items()
            if isinstance(v, str) and k.lower() not in own and not k.lower().startswith("x-stainless")}


class ChatEndpoint:
    """Blocking twin of AsyncChatEndpoint: the same endpoint, driven on a private event loop.

    Searches never block on it: they await its `asynchronous` endpoint on their own loop, so a
    blocking API call crosses one thread, not two."""

    def __init__(self, model: str, *, client: openai.OpenAI | openai.AsyncOpenAI | None = None, **kwargs: Any) -> None:
        self.asynchronous = AsyncChatEndpoint(model, client=client, **kwargs)
        self._loop = LoopThread()

    def __repr__(self) -> str:
        return repr(self.asynchronous).replace("AsyncChatEndpoint", "ChatEndpoint", 1)

    def chat(self, messages: Sequence[Message], *, usage: Usage | None = None, **params: Any) -> ChatReply:
        return self._loop.run(self.asynchronous.chat(messages, usage=usage, **params))

    def close(self) -> None:
        self._loop.run(self.asynchronous.close())
        self._loop.close()
