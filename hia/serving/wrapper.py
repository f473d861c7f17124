"""Drop hia into code that already calls a chat API.

    client = hia.wrap(openai.OpenAI())
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                           extra_body={"goal": "verbosity=1", "budget": 2})
    reply.choices[0].message.content   # the aligned answer, in a standard ChatCompletion
    reply.alignment                    # the AlignmentResult: every candidate and score

    reply = client.responses.create(model="gpt-4o-mini", input="Why is the sky blue?",
                                    extra_body={"goal": "verbosity=1"})
    reply.output_text                  # the same, through the Responses API

Without a goal (and no profile for the request's `user`), `create` passes the request to the
upstream unchanged and returns its own answer, with any key in it redacted. The goal and budget may be keyword arguments, `extra_body` fields (flat or
under "hia"), or the caller's profile. Policy calls go through the wrapped client with the
caller's model and sampling parameters; the reported usage sums every internal call.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import openai
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from pydantic import Field

from hia.build import Pipeline, Settings, build
from hia.core.loop import LoopThread
from hia.core.results import AlignmentResult
from hia.errors import InputError, check_type, redact
from hia.models.chat import twin_settings
from hia.models.policy import AsyncChatPolicy
from hia.models.ratelimit import Pace, SlotsOnly, admitting_http_client
from hia.rewards.base import ReferenceRewardModel
from hia.search.options import SearchOptions
from hia.serving.profiles import ProfileStore
from hia.serving.protocol import ChatRequest, KnobOptions
from hia.serving.responses import ResponsesRequest, to_response
from hia.serving.spend import DailyLimits, UserSpend

FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call")


class AlignedChatCompletion(ChatCompletion):
    """A standard ChatCompletion, plus the alignment that chose its answer (not serialised)."""

    alignment: Any = Field(default=None, exclude=True)


def to_completion(result: AlignmentResult, model: str) -> AlignedChatCompletion:
    chosen = result.chosen
    finish = chosen.evaluation.finish_reason if chosen is not None and chosen.evaluation is not None else None
    usage = result.usage
    return AlignedChatCompletion(
        id=f"chatcmpl-hia-{uuid.uuid4().hex[:20]}", object="chat.completion", created=int(time.time()), model=model,
        choices=[{"index": 0, "finish_reason": finish if finish in FINISH_REASONS else "stop",
                  "message": {"role": "assistant", "content": result.response or ""}}],
        usage={"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
               "total_tokens": usage.prompt_tokens + usage.completion_tokens},
        alignment=result,
    )


def _redacted(value: Any, secrets: list[str | None]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secrets) for v in value]
    return value


def error_without_secrets(exc: openai.APIStatusError, secrets: list[str | None]) -> openai.APIStatusError:
    """A copy of an openai status error (same class, status and headers) whose message, body and
    response text went through `redact`."""
    response = exc.response
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")}
    # the response's own class: openai's HTTP library, whichever it is
    clean = type(response)(response.status_code, headers=headers, content=redact(response.text, secrets).encode(),
                           request=response.request)
    return type(exc)(redact(exc.message, secrets), response=clean, body=_redacted(exc.body, secrets))


class _Wrapper:
    """The wrapper's parts that do no I/O of their own: the options, checked once, the parsing,
    the users' spend and one alignment of a parsed request (the blocking client runs the async one)."""

    def __init__(self, client: Any, *, pipeline: Pipeline | None = None, profiles: ProfileStore | None = None,
                 reference: ReferenceRewardModel | None = None, options: SearchOptions | None = None,
                 knobs: KnobOptions = KnobOptions(), limits: DailyLimits | None = None,
                 rate_limiter: Pace | None = None) -> None:
        for name, value, kind, wanted in (
                ("pipeline", pipeline, Pipeline, "a Pipeline from hia.build.build(Settings(...))"),
                ("profiles", profiles, ProfileStore, "a hia.serving.profiles.ProfileStore"),
                ("reference", reference, ReferenceRewardModel,
                 "a reference reward model object (for a reference by name, pass pipeline=build(Settings(reference=...)))"),
                ("options", options, SearchOptions, "a hia.SearchOptions"),
                ("knobs", knobs, KnobOptions, "a hia.serving.protocol.KnobOptions"),
                ("limits", limits, DailyLimits, "a hia.serving.spend.DailyLimits"),
                ("rate_limiter", rate_limiter, Pace, "a hia.RateLimiter")):
            check_type(name, value, kind, wanted)
        self.wrapped = client
        self.knobs = knobs
        self.pipeline = pipeline or build(Settings())
        self.profiles = profiles
        self.limits = limits or (DailyLimits(profiles) if profiles is not None else None)
        self.rate_limiter = rate_limiter  # paces every call to the wrapped client, aligned or passed through
        self.sender = client  # what sends: the wrapped client, or (async, limited) its twin that admits at send
        self.reference = reference  # None: the pipeline's
        self.options = options  # None: the pipeline's

    def __getattr__(self, name: str) -> Any:
        if name == "wrapped":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.wrapped, name)  # everything but the two create() calls is the client's own

    def parse(self, kwargs: Mapping[str, Any]) -> ChatRequest:
        return ChatRequest.parse(kwargs, self.profiles, self.knobs)

    def user_spend(self, request: ChatRequest) -> UserSpend | None:
        """The spend limit of the request's user, when its profile has one (SpendLimitExceeded when
        nothing is left today)."""
        if self.limits is None or self.profiles is None or not request.user:
            return None
        profile = self.profiles.get(request.user)
        if profile is None or (profile.daily_calls is None and profile.daily_tokens is None):
            return None
        return UserSpend(profile, self.limits.budget_for(profile), self.limits)

    async def aligned(self, request: ChatRequest, policy: Any, spend: UserSpend | None) -> AlignedChatCompletion:
        """The aligned answer to `request`, its policy calls made by `policy` and charged to `spend`."""
        alignment = request.alignment
        assert alignment is not None
        if request.upstream.get("stream"):
            raise InputError("stream=True with a goal is not supported by the wrapper; `hia serve` streams "
                             "the chosen answer, or leave stream off")
        aligner = self.pipeline.async_aligner(policy, reference=self.reference, options=self.options)
        calls = alignment.budget or aligner.options.budget
        with UserSpend.alignment(spend, tokens=request.token_ceiling(calls)) as paid:
            result = paid(await aligner.align(
                alignment.prompt, alignment.goal, method=alignment.method, objective=alignment.objective,
                messages=alignment.context, **UserSpend.budget_of(spend, alignment.budget)))
        return to_completion(result, request.model)

    @contextmanager
    def passthrough_errors(self) -> Iterator[None]:
        """The upstream's own error for a passthrough, with the key removed from its message, body
        and response, as from every error an alignment raises."""
        try:
            yield
        except openai.APIStatusError as exc:
            raise error_without_secrets(exc, [getattr(self.wrapped, "api_key", None)]) from None

    def without_secrets(self, reply: Any) -> Any:
        """The upstream's own reply (a passthrough) with the key, or anything shaped like a secret,
        removed from its text, as from every answer an alignment gets."""
        secrets = [getattr(self.wrapped, "api_key", None)]
        for choice in getattr(reply, "choices", None) or []:
            message = getattr(choice, "message", None)
            if message is not None and isinstance(message.content, str):
                message.content = redact(message.content, secrets)
        for item in getattr(reply, "output", None) or []:
            for part in getattr(item, "content", None) or []:
                if isinstance(getattr(part, "text", None), str):
                    part.text = redact(part.text, secrets)
        return reply

    def parse_responses(self, kwargs: Mapping[str, Any]) -> ResponsesRequest:
        return ResponsesRequest.parse(kwargs, self.profiles, self.knobs)


class _SyncCompletions:
    def __init__(self, owner: "AlignedClient") -> None:
        self.owner = owner

    def create(self, **kwargs: Any) -> ChatCompletion:
        return self.owner.complete(self.owner.parse(kwargs))


class _AsyncCompletions:
    def __init__(self, owner: "AsyncAlignedClient") -> None:
        self.owner = owner

    async def create(self, **kwargs: Any) -> ChatCompletion:
        return await self.owner.complete(self.owner.parse(kwargs))


class _SyncResponses:
    def __init__(self, owner: "AlignedClient") -> None:
        self.owner = owner

    def create(self, **kwargs: Any) -> Response:
        return self.owner.respond(self.owner.parse_responses(kwargs))


class _AsyncResponses:
    def __init__(self, owner: "AsyncAlignedClient") -> None:
        self.owner = owner

    async def create(self, **kwargs: Any) -> Response:
        return await self.owner.respond(self.owner.parse_responses(kwargs))


class _Chat:
    def __init__(self, completions: Any) -> None:
        self.completions = completions


class AlignedClient:
    """An `openai.OpenAI` whose chat.completions.create and responses.create align answers when asked.

    The blocking twin of AsyncAlignedClient: that client's code, on a private event loop, plus one
    send. It works through an `openai.AsyncOpenAI` made like the one given (key, URL, organisation,
    project, headers, query, timeout and retries; not a custom http_client), so a passthrough is
    paced, redacted and admitted by a rate limiter at its send exactly as an async one is.
    Everything but the two create() calls is the given client's own."""

    def __init__(self, client: openai.OpenAI, **options: Any) -> None:
        self.wrapped = client
        self.twin = AsyncAlignedClient(openai.AsyncOpenAI(**{**twin_settings(client), "max_retries": client.max_retries}),
                                       **options)
        self.loop = LoopThread()
        self.chat = _Chat(_SyncCompletions(self))
        self.responses = _SyncResponses(self)

    def __getattr__(self, name: str) -> Any:
        if name in ("wrapped", "twin"):  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def parse(self, kwargs: Mapping[str, Any]) -> ChatRequest:
        return self.twin.parse(kwargs)

    def parse_responses(self, kwargs: Mapping[str, Any]) -> ResponsesRequest:
        return self.twin.parse_responses(kwargs)

    def complete(self, request: ChatRequest) -> ChatCompletion:
        """The answer to a parsed request: aligned, or the upstream's own."""
        return self.loop.run(self.twin.complete(request))

    def respond(self, request: ResponsesRequest) -> Response:
        """The answer to a parsed Responses request: aligned, or the upstream's own."""
        return self.loop.run(self.twin.respond(request))

    def close(self) -> None:
        self.loop.run(self.twin.close())
        self.loop.close()
        self.wrapped.close()


class AsyncAlignedClient(_Wrapper):
    """An `openai.AsyncOpenAI` whose chat.completions.create and responses.create align answers when asked.

    With a rate limiter, calls go through a twin of the client whose HTTP client asks the limiter's
    window as each request goes out (a custom http_client of the wrapped client is not kept)."""

    def __init__(self, client: openai.AsyncOpenAI, **options: Any) -> None:
        super().__init__(client, **options)
        self.pace: Pace | None = None
        if self.rate_limiter is not None:
            self.sender = client.with_options(http_client=admitting_http_client(self.rate_limiter))
            self.pace = SlotsOnly(self.rate_limiter)
        self.chat = _Chat(_AsyncCompletions(self))
        self.responses = _AsyncResponses(self)

    async def respond(self, request: ResponsesRequest) -> Response:
        """The answer to a parsed Responses request: aligned, or the upstream's own."""
        if request.alignment is None:
            with UserSpend.passthrough(self.user_spend(request.chat), tokens=request.chat.token_ceiling(1)) as paid:
                if self.pace is not None:
                    await self.pace.wait()
                with self.passthrough_errors():
                    return paid(self.without_secrets(await self.sender.responses.create(**request.upstream)))
        return to_response(await self.complete(request.chat), request)

    async def complete(self, request: ChatRequest) -> ChatCompletion:
        """The answer to a parsed request: aligned, or the wrapped client's own."""
        spend = self.user_spend(request)
        if request.alignment is None:
            with UserSpend.passthrough(spend, tokens=request.token_ceiling(1)) as paid:
                if self.pace is not None:
                    await self.pace.wait()
                with self.passthrough_errors():
                    return paid(self.without_secrets(await self.sender.chat.completions.create(**request.upstream)))
        policy = AsyncChatPolicy(request.model, client=self.sender.with_options(max_retries=0),
                                 base_url=str(self.wrapped.base_url), rate_limiter=self.pace,
                                 **request.policy_params())
        return await self.aligned(request, policy, spend)

    async def close(self) -> None:
        await self.wrapped.close()
        if self.sender is not self.wrapped:
            await self.sender.close()
        self.pipeline.close()


def wrap(client: openai.OpenAI | openai.AsyncOpenAI, *, pipeline: Pipeline | None = None,
         profiles: ProfileStore | None = None, reference: ReferenceRewardModel | None = None,
         options: SearchOptions | None = None, knobs: KnobOptions = KnobOptions(), limits: DailyLimits | None = None,
         rate_limiter: Pace | None = None) -> AlignedClient | AsyncAlignedClient:
    """Wrap an OpenAI client (sync or async). `pipeline` (from hia.build; default: the default
    settings) gives the optimizer, heuristic and reference; `reference` and `options` (a
    SearchOptions) replace the pipeline's; `profiles` gives users' goals and daily limits (kept
    by `limits`: in this process by default, or a RedisDailyLimits shared by replicas); `knobs`
    how GPT-5's `verbosity` becomes a goal (KnobOptions); `rate_limiter` (a RateLimiter or
    RedisRateLimiter) paces every call to the client."""
    kwargs = {"pipeline": pipeline, "profiles": profiles, "reference": reference, "options": options, "knobs": knobs,
              "limits": limits, "rate_limiter": rate_limiter}
    if isinstance(client, openai.AsyncOpenAI):
        return AsyncAlignedClient(client, **kwargs)
    if isinstance(client, openai.OpenAI):
        return AlignedClient(client, **kwargs)
    raise TypeError(f"wrap() takes an openai.OpenAI or openai.AsyncOpenAI client, got {type(client).__name__}")
