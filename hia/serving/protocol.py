"""A chat request, parsed once: what hia aligns, and what goes to the upstream API.

The proxy route and `wrap(client).chat.completions.create` both turn their arguments into one
ChatRequest here; nothing downstream parses them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from hia import _defaults as D
from hia.core.budget import whole_calls
from hia.core.goal import Goal
from hia.errors import InputError
from hia.models.chat import Message
from hia.search.options import check_method, check_objective
from hia.serving.profiles import ProfileStore

HIA_KEYS = ("goal", "budget", "method", "objective")
# Request fields that shape the policy's sampling; passed through to every policy call.
SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "presence_penalty",
                 "frequency_penalty", "logit_bias", "reasoning_effort", "verbosity")  # verbosity: only when KnobOptions passes it on
# Options that change what kind of answer comes back: hia returns one text answer it chose.
NOT_WITH_A_GOAL = ("tools", "tool_choice", "functions", "function_call", "response_format")


@dataclass(frozen=True)
class KnobOptions:
    """How the steering knobs of OpenAI-compatible APIs become goals. GPT-5's `verbosity`
    ("low", "medium", "high") in a request with no goal becomes a goal on hia's verbosity scale
    (`verbosity_levels`); an explicit goal wins over it. It is passed upstream too only with
    `pass_verbosity_upstream` (an upstream that does not know it may refuse it)."""

    verbosity_levels: Mapping[str, float] = field(default_factory=lambda: dict(D.VERBOSITY_KNOB_LEVELS))
    pass_verbosity_upstream: bool = False


@dataclass(frozen=True)
class AlignmentRequest:
    """hia's part of a request: the goal and how to search for it."""

    goal: Goal
    budget: int | None  # None: the aligner's default budget
    method: str | None
    objective: str | None
    context: list[Message]  # the conversation before the prompt
    prompt: str  # the last user message: what gets rewritten


@dataclass(frozen=True)
class ChatRequest:
    """One chat.completions.create call. `upstream` holds the create() arguments with hia's fields
    removed (they never reach the upstream API); `alignment` is None when nothing asks for one."""

    upstream: dict[str, Any]
    alignment: AlignmentRequest | None

    @property
    def model(self) -> str:
        return str(self.upstream.get("model") or "")

    @property
    def user(self) -> str | None:
        user = self.upstream.get("user")
        return str(user) if user else None

    def policy_params(self) -> dict[str, Any]:
        """The sampling parameters every policy call of the alignment uses."""
        params = {k: self.upstream[k] for k in SAMPLING_KEYS if self.upstream.get(k) is not None}
        params.setdefault("temperature", D.POLICY_TEMPERATURE)  # best-of-N needs samples that differ
        params.setdefault("max_tokens", params.pop("max_completion_tokens", D.POLICY_MAX_TOKENS))
        params.pop("max_completion_tokens", None)
        return params

    def token_ceiling(self, calls: int) -> int:
        """The most tokens `calls` calls of this request can spend, as a daily token limit holds
        them: each call's answer cap and prompt (and, aligned, a rewrite's length)."""
        messages = self.upstream.get("messages") or []
        prompt = sum(len(str(m.get("content") or "")) for m in messages) // D.TOKEN_HOLD_CHARS_PER_TOKEN + 4 * len(messages)
        if self.alignment is None:
            answer = self.upstream.get("max_completion_tokens") or self.upstream.get("max_tokens") \
                or D.TOKEN_HOLD_DEFAULT_ANSWER
            return calls * (int(answer) + prompt)
        return calls * (int(self.policy_params()["max_tokens"]) + prompt + D.TOKEN_HOLD_REWRITE_TOKENS)

    @classmethod
    def parse(cls, kwargs: Mapping[str, Any], profiles: ProfileStore | None = None,
              knobs: KnobOptions = KnobOptions()) -> "ChatRequest":
        """Separate hia's fields (keyword arguments, `extra_body` fields flat or under "hia", the
        profile of the request's `user`, or a `verbosity` knob) from the rest, and check both."""
        rest, extra, found = take_hia_fields(kwargs)
        # GPT-5's knob, top level or in extra_body; it becomes the goal if nothing else names one.
        knob = rest.get("verbosity", extra.get("verbosity"))
        if knob is not None:
            if not isinstance(knob, str) or knob not in knobs.verbosity_levels:
                raise InputError(f"verbosity must be one of {', '.join(map(repr, knobs.verbosity_levels))}, got {knob!r}")
            if not knobs.pass_verbosity_upstream:
                rest.pop("verbosity", None)
                extra.pop("verbosity", None)
        if extra:
            rest["extra_body"] = extra
        user = rest.get("user")
        if "goal" not in found and profiles is not None and user:
            profile = profiles.get(str(user))
            if profile is not None:
                found = {**profile.request(), **found}
        if knob is not None and "goal" not in found:
            found["goal"] = f"verbosity={knobs.verbosity_levels[knob]:g}"
        check_messages(rest.get("messages"))
        check_sampling(rest)
        if found.get("goal") is None:
            named = [k for k in ("budget", "method", "objective") if found.get(k) is not None]
            if named:
                raise InputError(f"{', '.join(named)} given without a goal: nothing would be aligned; add a goal "
                                 "(goal=verbosity=1, X-HIA-Goal, or the user's profile), or leave them out")
            return cls(rest, None)
        if isinstance(found["goal"], str) and not found["goal"].strip():
            raise InputError("the goal is empty; give one such as 'verbosity=1', or leave it out to pass the request "
                             "through unchanged")
        return cls(rest, alignment_of(found, rest))


def take_hia_fields(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(the arguments without hia's fields and without extra_body, what is left of extra_body, hia's
    fields). hia's fields may be keyword arguments or `extra_body` fields, flat or under "hia";
    keyword arguments win."""
    rest = dict(kwargs)
    extra = rest.pop("extra_body", None) or {}
    if not isinstance(extra, Mapping):
        raise InputError(f"extra_body must be an object, got {type(extra).__name__}")
    extra = dict(extra)
    nested = extra.pop("hia", None) or {}
    if not isinstance(nested, Mapping):
        raise InputError('"hia" must be an object such as {"goal": "verbosity=1", "budget": 2}, '
                         f"got {type(nested).__name__}")
    nested = dict(nested)
    found: dict[str, Any] = {}
    for source in (nested, extra, rest):  # later sources win
        for key in HIA_KEYS:
            if key in source:
                found[key] = source.pop(key)
    return rest, extra, found


# (low, high) of each sampling parameter the OpenAI API documents; None: no bound that side
SAMPLING_RANGES = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0), "presence_penalty": (-2.0, 2.0),
                   "frequency_penalty": (-2.0, 2.0)}
TOKEN_CAPS = ("max_tokens", "max_completion_tokens")


def check_sampling(kwargs: Mapping[str, Any]) -> None:
    """Refuse sampling parameters no upstream would take, before any call: a number out of its
    documented range, a token cap that is not a whole number from 1 to MAX_TOKENS_PER_CALL, a
    seed that is not a whole number."""
    for name, (low, high) in SAMPLING_RANGES.items():
        value = kwargs.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise InputError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    for name in TOKEN_CAPS:
        value = kwargs.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 1 <= value <= D.MAX_TOKENS_PER_CALL):
            raise InputError(f"{name} must be a whole number from 1 to {D.MAX_TOKENS_PER_CALL}, got {value!r}")
    seed = kwargs.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InputError(f"seed must be a whole number, got {seed!r}")


def check_messages(messages: object) -> None:
    """Refuse a malformed chat request before any call (an upstream would refuse it anyway, after retries)."""
    if not isinstance(messages, (list, tuple)) or not messages or not all(
            isinstance(m, Mapping) and isinstance(m.get("role"), str) for m in messages):
        raise InputError("messages must be a non-empty list of objects, each with a 'role' and its 'content'")


def alignment_of(found: Mapping[str, Any], rest: Mapping[str, Any]) -> AlignmentRequest:
    unsupported = [k for k in NOT_WITH_A_GOAL if rest.get(k) is not None]
    if rest.get("n") not in (None, 1):
        unsupported.insert(0, f"n={rest['n']}")
    if unsupported:
        raise InputError(f"{', '.join(unsupported)} cannot be honoured with a goal: hia returns the one text answer "
                         "it chose; leave these out, or leave out the goal to pass the request through unchanged")
    messages = list(rest["messages"])
    if messages[-1].get("role") != "user" or not isinstance(messages[-1].get("content"), str):
        raise InputError("to align an answer, the last message must be the user's, with text content")
    budget = found.get("budget")
    method, objective = found.get("method"), found.get("objective")
    return AlignmentRequest(
        goal=Goal.coerce(found["goal"]),
        budget=None if budget is None else whole_calls(budget, ceiling=None),  # the aligner applies its ceiling
        method=None if method is None else check_method(method),
        objective=None if objective is None else check_objective(objective),
        context=[dict(m) for m in messages[:-1]], prompt=messages[-1]["content"])
