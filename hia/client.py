"""Drop hia into code that already calls a chat API.

    client = hia.wrap(openai.OpenAI())
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                           extra_body={"goal": "verbosity=1", "budget": 2})
    reply.choices[0].message.content   # the aligned answer, in a standard ChatCompletion
    reply.alignment                    # the AlignmentResult: every candidate and score

Without a goal (and no profile for the request's `user`), `create` is the wrapped client's own
call, unchanged. The goal and budget may be keyword arguments, `extra_body` fields (flat or
under "hia"), or the caller's profile. Policy calls go through the wrapped client with the
caller's model and sampling parameters; the reported usage sums every internal call.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

import openai
from openai.types.chat import ChatCompletion
from pydantic import Field

from . import _defaults as D
from ._loop import LoopThread
from .aligner import AsyncAligner
from .budget import whole_calls
from .build import Pipeline, Settings, build
from .errors import InputError
from .goal import Goal
from .policy import AsyncChatPolicy, ChatPolicy, Message
from .profiles import ProfileStore
from .rewards.base import ReferenceRewardModel
from .spend import DailyLimits, UserSpend
from .types import AlignmentResult

HIA_KEYS = ("goal", "budget", "method", "objective")
# Request fields that shape the policy's sampling; passed through to every policy call.
SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "presence_penalty",
                 "frequency_penalty", "logit_bias")
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call")


class AlignedChatCompletion(ChatCompletion):
    """A standard ChatCompletion, plus the alignment that chose its answer (not serialised)."""

    alignment: Any = Field(default=None, exclude=True)


@dataclass(frozen=True)
class AlignmentRequest:
    goal: Goal
    budget: int
    method: str | None
    objective: str | None
    context: list[Message]  # the conversation before the prompt
    prompt: str  # the last user message: what gets rewritten


# Options that change what kind of answer comes back: hia returns one text answer it chose.
NOT_WITH_A_GOAL = ("tools", "tool_choice", "functions", "function_call", "response_format")


def check_request(kwargs: Mapping[str, Any]) -> None:
    """Refuse a malformed chat request before any call (an upstream would refuse it anyway, after retries)."""
    messages = kwargs.get("messages")
    if not isinstance(messages, (list, tuple)) or not messages or not all(
            isinstance(m, Mapping) and isinstance(m.get("role"), str) for m in messages):
        raise InputError("messages must be a non-empty list of objects, each with a 'role' and its 'content'")
    seed = kwargs.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InputError(f"seed must be a whole number, got {seed!r}")


def split_request(kwargs: Mapping[str, Any], profiles: ProfileStore | None = None
                  ) -> tuple[AlignmentRequest | None, dict[str, Any]]:
    """Separate hia's fields from an OpenAI create() call.

    Returns (None, kwargs) when the call asks for no alignment, else the request and the
    remaining arguments (with hia's fields removed, so they never reach the upstream API).
    """
    rest = dict(kwargs)
    extra = dict(rest.pop("extra_body", None) or {})
    nested = dict(extra.pop("hia", None) or {})
    found: dict[str, Any] = {}
    for source in (nested, extra, rest):  # later sources win: keyword arguments beat extra_body
        for key in HIA_KEYS:
            if key in source:
                found[key] = source.pop(key)
    if extra:
        rest["extra_body"] = extra
    if "goal" not in found and profiles is not None and rest.get("user"):
        profile = profiles.get(str(rest["user"]))
        if profile is not None:
            found = {**profile.request(), **found}
    if found.get("goal") in (None, ""):
        return None, rest
    check_request(rest)
    unsupported = [k for k in NOT_WITH_A_GOAL if rest.get(k) is not None]
    if rest.get("n") not in (None, 1):
        unsupported.insert(0, f"n={rest['n']}")
    if unsupported:
        raise InputError(f"{', '.join(unsupported)} cannot be honoured with a goal: hia returns the one text answer "
                         "it chose; leave these out, or leave out the goal to pass the request through unchanged")
    messages = list(rest.get("messages") or [])
    if not messages or messages[-1].get("role") != "user" or not isinstance(messages[-1].get("content"), str):
        raise InputError("to align an answer, the last message must be the user's, with text content")
    budget = whole_calls(found.get("budget", D.DEFAULT_BUDGET), ceiling=None)  # the aligner applies its ceiling
    request = AlignmentRequest(Goal.coerce(found["goal"]), budget, found.get("method"), found.get("objective"),
                               [dict(m) for m in messages[:-1]], messages[-1]["content"])
    return request, rest


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


class _Wrapper:
    """What the sync and async wrappers share: the pipeline, and building one alignment."""

    def __init__(self, client: Any, *, pipeline: Pipeline | None = None, profiles: ProfileStore | None = None,
                 reference: ReferenceRewardModel | None = None, **aligner_options: Any) -> None:
        self._client = client
        self.pipeline = pipeline or build(Settings())
        self.profiles = profiles
        self.limits = DailyLimits(profiles) if profiles is not None else None
        self.reference = reference or self.pipeline.reference
        # The pipeline's parts and settings, with any given here (optimizer=..., method=..., ...) on top.
        self.aligner_options = {**self.pipeline.aligner_options(), **aligner_options}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)  # everything but chat.completions.create is the client's own

    def _aligner(self, policy: Any) -> AsyncAligner:
        return AsyncAligner(policy, self.reference, **self.aligner_options)

    @staticmethod
    def _policy_params(rest: Mapping[str, Any]) -> dict[str, Any]:
        params = {k: rest[k] for k in SAMPLING_KEYS if rest.get(k) is not None}
        params.setdefault("temperature", D.POLICY_TEMPERATURE)  # best-of-N needs samples that differ
        params.setdefault("max_tokens", params.pop("max_completion_tokens", D.POLICY_MAX_TOKENS))
        return params

    def user_spend(self, rest: Mapping[str, Any]) -> UserSpend | None:
        """The spend limit of the request's user, when its profile has one (SpendLimitExceeded when
        nothing is left today)."""
        if self.limits is None or self.profiles is None or not rest.get("user"):
            return None
        profile = self.profiles.get(str(rest["user"]))
        if profile is None or (profile.daily_calls is None and profile.daily_tokens is None):
            return None
        return UserSpend(profile, self.limits.budget_for(profile), self.limits)

    @staticmethod
    def _check_stream(rest: Mapping[str, Any]) -> None:
        if rest.get("stream"):
            raise InputError("stream=True with a goal is not supported by the wrapper; `hia serve` streams "
                             "the chosen answer, or leave stream off")


class _SyncCompletions:
    def __init__(self, owner: "AlignedClient") -> None:
        self._owner = owner

    def create(self, **kwargs: Any) -> ChatCompletion:
        owner = self._owner
        request, rest = split_request(kwargs, owner.profiles)
        spend = owner.user_spend(rest)
        if request is None:
            with UserSpend.passthrough(spend) as paid:
                return paid(owner._client.chat.completions.create(**rest))
        owner._check_stream(rest)
        # The wrapped client makes the policy calls; hia retries, so the client's own retries are off.
        policy = ChatPolicy(rest["model"], client=owner._client.with_options(max_retries=0),
                            base_url=str(owner._client.base_url), **owner._policy_params(rest))
        with UserSpend.alignment(spend) as paid:
            result = paid(owner._loop.run(owner._aligner(policy).align(
                request.prompt, request.goal, method=request.method, objective=request.objective,
                messages=request.context, **UserSpend.budget_of(spend, request.budget))))
        return to_completion(result, rest["model"])


class _AsyncCompletions:
    def __init__(self, owner: "AsyncAlignedClient") -> None:
        self._owner = owner

    async def create(self, **kwargs: Any) -> ChatCompletion:
        owner = self._owner
        request, rest = split_request(kwargs, owner.profiles)
        spend = owner.user_spend(rest)
        if request is None:
            with UserSpend.passthrough(spend) as paid:
                return paid(await owner._client.chat.completions.create(**rest))
        owner._check_stream(rest)
        policy = AsyncChatPolicy(rest["model"], client=owner._client.with_options(max_retries=0),
                                 base_url=str(owner._client.base_url), **owner._policy_params(rest))
        with UserSpend.alignment(spend) as paid:
            result = paid(await owner._aligner(policy).align(
                request.prompt, request.goal, method=request.method, objective=request.objective,
                messages=request.context, **UserSpend.budget_of(spend, request.budget)))
        return to_completion(result, rest["model"])


class _Chat:
    def __init__(self, completions: Any) -> None:
        self.completions = completions


class AlignedClient(_Wrapper):
    """An `openai.OpenAI` whose chat.completions.create aligns answers when asked."""

    def __init__(self, client: openai.OpenAI, **options: Any) -> None:
        super().__init__(client, **options)
        self._loop = LoopThread()
        self.chat = _Chat(_SyncCompletions(self))

    def close(self) -> None:
        self._loop.close()
        self._client.close()
        self.pipeline.close()


class AsyncAlignedClient(_Wrapper):
    """An `openai.AsyncOpenAI` whose chat.completions.create aligns answers when asked."""

    def __init__(self, client: openai.AsyncOpenAI, **options: Any) -> None:
        super().__init__(client, **options)
        self.chat = _Chat(_AsyncCompletions(self))

    async def close(self) -> None:
        await self._client.close()
        self.pipeline.close()


def wrap(client: openai.OpenAI | openai.AsyncOpenAI, **options: Any) -> AlignedClient | AsyncAlignedClient:
    """Wrap an OpenAI client (sync or async). Options: `pipeline` (from hia.build; default: the
    default settings), `profiles`, `reference`, and any AsyncAligner keyword (optimizer, heuristic,
    method, objective, seed, ...), which override the pipeline's."""
    if isinstance(client, openai.AsyncOpenAI):
        return AsyncAlignedClient(client, **options)
    if isinstance(client, openai.OpenAI):
        return AlignedClient(client, **options)
    raise TypeError(f"wrap() takes an openai.OpenAI or openai.AsyncOpenAI client, got {type(client).__name__}")
