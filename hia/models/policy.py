"""The response policy: the expensive black-box model whose calls the budget counts.

`ChatPolicy` (blocking) and `AsyncChatPolicy` (asyncio) talk to any OpenAI-compatible endpoint.
Any callable can stand in for them: ``fn(prompt) -> str`` or ``fn(prompt, seed=...) -> str``,
plain or ``async``.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

from hia import _defaults as D
from hia.core.usage import Usage
from hia.errors import InputError
from hia.models.chat import AsyncChatEndpoint, ChatEndpoint, ChatReply, Message
from hia.models.ratelimit import Pace

PolicyFn = Callable[[Sequence[Message], int, Usage], Awaitable[ChatReply]]


@dataclass(frozen=True)
class PolicySpec:
    """What makes the same policy in another process (a Ray worker): its endpoint and call
    settings, as plain picklable values. The key is left out of the repr, so no log shows it."""

    model: str
    base_url: str | None
    api_key: str | None = field(repr=False)
    temperature: float
    max_tokens: int
    timeout: float
    max_retries: int
    retry_initial_wait: float
    retry_max_wait: float
    rate_limit: float | None = None  # requests per second, shared by every process that makes the policy
    extra_params: dict[str, Any] = field(default_factory=dict)

    def make(self, rate_limiter: Pace | None = None) -> "AsyncChatPolicy":
        return AsyncChatPolicy(self.model, base_url=self.base_url, api_key=self.api_key, timeout=self.timeout,
                               max_retries=self.max_retries, retry_initial_wait=self.retry_initial_wait,
                               retry_max_wait=self.retry_max_wait, rate_limiter=rate_limiter,
                               temperature=self.temperature, max_tokens=self.max_tokens, **self.extra_params)


class _PolicyBase:
    """What the blocking and asyncio policies share: their endpoint, settings and checks."""

    endpoint: AsyncChatEndpoint | ChatEndpoint
    endpoint_class: type[AsyncChatEndpoint] | type[ChatEndpoint]

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None, client: Any = None,
                 timeout: float = D.REQUEST_TIMEOUT_S, max_retries: int = D.MAX_RETRIES,
                 retry_initial_wait: float = D.RETRY_INITIAL_WAIT_S, retry_max_wait: float = D.RETRY_MAX_WAIT_S,
                 rate_limiter: Pace | None = None, temperature: float = D.POLICY_TEMPERATURE,
                 max_tokens: int = D.POLICY_MAX_TOKENS, **extra_params: Any) -> None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) \
                or not 0 <= temperature <= 2:
            raise InputError(f"temperature must be a number from 0 to 2, got {temperature!r}")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise InputError(f"max_tokens must be a whole number of at least 1, got {max_tokens!r}")
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.extra_params = extra_params  # passed through to chat.completions.create
        self.endpoint = self.endpoint_class(model, base_url=base_url, api_key=api_key, client=client, timeout=timeout,
                                            max_retries=max_retries, retry_initial_wait=retry_initial_wait,
                                            retry_max_wait=retry_max_wait, rate_limiter=rate_limiter, role="policy")

    @property
    def asynchronous(self) -> AsyncChatEndpoint:
        """The asyncio endpoint, which searches await on their own loop."""
        endpoint = self.endpoint
        return endpoint if isinstance(endpoint, AsyncChatEndpoint) else endpoint.asynchronous

    def params(self, seed: int | None) -> dict[str, Any]:
        """The sampling parameters of one call."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, "seed": seed, **self.extra_params}

    @property
    def spec(self) -> PolicySpec | None:
        """This policy as plain values, or None when it was made on a client object, which cannot
        be made again elsewhere."""
        endpoint = self.asynchronous
        if endpoint.given_client is not None:
            return None
        limiter = endpoint.rate_limiter
        return PolicySpec(endpoint.model, endpoint.base_url, endpoint.api_key, self.temperature, self.max_tokens,
                          endpoint.timeout, endpoint.max_retries, endpoint.retry_initial_wait, endpoint.retry_max_wait,
                          getattr(limiter, "per_second", None), dict(self.extra_params))


class ChatPolicy(_PolicyBase):
    """A chat model behind an OpenAI-compatible endpoint, with a blocking `complete`.

    `client` may be an `openai.OpenAI` (its key, URL, headers and timeout are used) or an
    `openai.AsyncOpenAI`. Inside an aligner its calls run on the aligner's event loop.
    `rate_limiter` (a hia.RateLimiter) paces every request it sends, retries included."""

    endpoint: ChatEndpoint
    endpoint_class = ChatEndpoint

    def complete(self, messages: Sequence[Message], *, seed: int | None = None, usage: Usage | None = None) -> ChatReply:
        return self.endpoint.chat(messages, usage=usage, **self.params(seed))

    def close(self) -> None:
        """Close the connection pool (a client passed in is closed too)."""
        self.endpoint.close()

    def __enter__(self) -> "ChatPolicy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncChatPolicy(_PolicyBase):
    """A chat model behind an OpenAI-compatible endpoint, called with `openai.AsyncOpenAI`;
    `rate_limiter` as for ChatPolicy."""

    endpoint: AsyncChatEndpoint
    endpoint_class = AsyncChatEndpoint

    async def complete(self, messages: Sequence[Message], *, seed: int | None = None,
                       usage: Usage | None = None) -> ChatReply:
        return await self.endpoint.chat(messages, usage=usage, **self.params(seed))

    async def close(self) -> None:
        """Close this event loop's connection pools (a client passed in is closed too)."""
        await self.endpoint.close()

    async def __aenter__(self) -> "AsyncChatPolicy":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _accepts_seed(fn: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def as_policy_fn(policy: Any) -> PolicyFn:
    """Adapt a policy object or a plain callable to what the searches await."""
    if isinstance(policy, AsyncChatPolicy):
        async def call_async_policy(messages: Sequence[Message], seed: int, usage: Usage) -> ChatReply:
            return await policy.complete(messages, seed=seed, usage=usage)
        return call_async_policy
    if isinstance(policy, ChatPolicy):
        # Its asyncio endpoint, awaited on the search's own loop: no thread of its own per call.
        async def call_sync_policy(messages: Sequence[Message], seed: int, usage: Usage) -> ChatReply:
            return await policy.asynchronous.chat(messages, usage=usage, **policy.params(seed))
        return call_sync_policy
    if not callable(policy):
        raise TypeError(f"a policy is a ChatPolicy, an AsyncChatPolicy or a callable, got {type(policy).__name__}")

    with_seed = _accepts_seed(policy)
    is_async = inspect.iscoroutinefunction(policy) or inspect.iscoroutinefunction(getattr(policy, "__call__", None))

    async def call_function(messages: Sequence[Message], seed: int, usage: Usage) -> ChatReply:
        prompt = messages[-1]["content"]
        kwargs = {"seed": seed} if with_seed else {}
        if is_async:
            text = await policy(prompt, **kwargs)
        else:
            text = await asyncio.to_thread(policy, prompt, **kwargs)
        if isinstance(text, ChatReply):
            reply = text
        else:
            reply = ChatReply(text=str(text))
        usage.record_call("policy", reply.prompt_tokens, reply.completion_tokens)
        return reply

    return call_function
