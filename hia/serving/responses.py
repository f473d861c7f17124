"""A Responses API request (`client.responses.create`, POST /v1/responses), parsed once.

hia aligns a Responses request as the chat request it stands for: `instructions` become the
system message, `input` the conversation (a string is one user message), `max_output_tokens` the
answer cap and `text.verbosity` GPT-5's verbosity knob. That chat request is aligned like any
other, and the chosen answer comes back as a Response object whose usage sums every call.
Without a goal the request goes to the upstream's own Responses API unchanged.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

from openai.types.responses import Response
from pydantic import Field

from hia.errors import InputError
from hia.models.chat import Message
from hia.serving.profiles import ProfileStore
from hia.serving.protocol import ChatRequest, KnobOptions, take_hia_fields

# Responses fields that mean the same as a chat field of another name, or of the same name.
AS_CHAT_FIELDS = {"max_output_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p", "user": "user",
                  "model": "model", "seed": "seed", "stream": "stream"}
# What hia cannot do with a goal: it makes plain text calls, keeps no conversation state and answers at once.
NOT_WITH_A_GOAL = ("tools", "previous_response_id", "conversation", "prompt", "background")
ROLES = ("user", "assistant", "system", "developer")


@dataclass(frozen=True)
class ResponsesRequest:
    """One responses.create call. `upstream` holds its arguments without hia's fields (what a
    passthrough sends); `chat` is the same request read as a chat request, whose alignment is
    None when nothing asks for one."""

    upstream: dict[str, Any]
    chat: ChatRequest

    @property
    def alignment(self) -> Any:
        return self.chat.alignment

    @classmethod
    def parse(cls, kwargs: Mapping[str, Any], profiles: ProfileStore | None = None,
              knobs: KnobOptions = KnobOptions()) -> "ResponsesRequest":
        rest, extra, found = take_hia_fields(kwargs)
        upstream = {**rest, **({"extra_body": extra} if extra else {})}
        text = rest.get("text") or {}
        if not isinstance(text, Mapping):
            raise InputError(f'text must be an object such as {{"verbosity": "low"}}, got {type(text).__name__}')
        messages, unreadable = as_messages(rest.get("instructions"), rest.get("input"))
        chat_kwargs: dict[str, Any] = {chat: rest[key] for key, chat in AS_CHAT_FIELDS.items() if rest.get(key) is not None}
        chat_kwargs["messages"] = messages or [{"role": "user", "content": ""}]  # read only when aligned
        if text.get("verbosity") is not None:
            chat_kwargs["verbosity"] = text["verbosity"]
        effort = (rest.get("reasoning") or {}).get("effort") if isinstance(rest.get("reasoning"), Mapping) else None
        if effort is not None:
            chat_kwargs["reasoning_effort"] = effort
        chat = ChatRequest.parse({**chat_kwargs, **found}, profiles, knobs)
        if chat.alignment is not None:
            refuse_what_a_goal_cannot_honour(rest, text, unreadable)
        return cls(upstream, chat)


def refuse_what_a_goal_cannot_honour(rest: Mapping[str, Any], text: Mapping[str, Any], unreadable: str | None) -> None:
    if unreadable is not None:
        raise InputError(f"to align an answer, {unreadable}")
    unsupported = [k for k in NOT_WITH_A_GOAL if rest.get(k)]
    if rest.get("tool_choice") not in (None, "none", "auto"):
        unsupported.append("tool_choice")
    fmt = text.get("format")
    if fmt is not None and (not isinstance(fmt, Mapping) or fmt.get("type") != "text"):
        unsupported.append("text.format")
    if rest.get("stream") and rest.get("background"):
        unsupported.append("background")
    if unsupported:
        raise InputError(f"{', '.join(dict.fromkeys(unsupported))} cannot be honoured with a goal: hia returns the one "
                         "text answer it chose, at once; leave these out, or leave out the goal to pass the request "
                         "through unchanged")


def as_messages(instructions: Any, given: Any) -> tuple[list[Message], str | None]:
    """The chat messages `instructions` and `input` stand for, and what could not be read (None
    when everything could): only text messages can be aligned."""
    messages: list[Message] = []
    if instructions is not None:
        if not isinstance(instructions, str):
            return [], "instructions must be a string"
        messages.append({"role": "system", "content": instructions})
    if isinstance(given, str):
        return [*messages, {"role": "user", "content": given}], None
    if not isinstance(given, list) or not given:
        return [], "input must be a string or a non-empty list of messages"
    for i, item in enumerate(given):
        if not isinstance(item, Mapping) or item.get("type", "message") != "message" or item.get("role") not in ROLES:
            kind = item.get("type") if isinstance(item, Mapping) else type(item).__name__
            return [], f"input[{i}] must be a message with a role of {', '.join(ROLES)} (got {kind!r})"
        content = item.get("content")
        if isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, Mapping)
                     and p.get("type") in ("input_text", "output_text", "text")]
            if len(parts) != len(content) or not all(isinstance(t, str) for t in parts):
                return [], f"input[{i}] may hold only text parts (input_text or output_text)"
            content = "\n".join(parts)  # type: ignore[arg-type]
        if not isinstance(content, str):
            return [], f"input[{i}].content must be a string or a list of text parts"
        messages.append({"role": "system" if item["role"] == "developer" else item["role"], "content": content})
    return messages, None


class AlignedResponse(Response):
    """A standard Response, plus the alignment that chose its answer (not serialised)."""

    alignment: Any = Field(default=None, exclude=True)


def _response_body(request: ResponsesRequest, model: str) -> dict[str, Any]:
    """The fields of a Response that echo the request, with nothing answered yet."""
    asked = request.upstream
    verbosity = (asked.get("text") or {}).get("verbosity")
    return {
        "id": f"resp_hia_{uuid.uuid4().hex}", "object": "response", "created_at": int(time.time()),
        "status": "in_progress", "model": model, "incomplete_details": None, "error": None, "output": [],
        "parallel_tool_calls": False, "tool_choice": "none", "tools": [],
        "text": {"format": {"type": "text"}, **({"verbosity": verbosity} if verbosity else {})},
        **{k: asked.get(k) for k in ("instructions", "max_output_tokens", "temperature", "top_p", "user", "metadata")},
    }


def in_progress(request: ResponsesRequest, model: str) -> dict[str, Any]:
    """The Response that a stream's `response.created` event announces."""
    return _response_body(request, model)


def to_response(completion: Any, request: ResponsesRequest) -> AlignedResponse:
    """The aligned chat completion as the Response object the request asked for."""
    choice = completion.choices[0]
    usage = completion.usage
    cut = choice.finish_reason == "length"
    body = {
        **_response_body(request, completion.model),
        "status": "incomplete" if cut else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "output": [{"type": "message", "id": f"msg_hia_{uuid.uuid4().hex}", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": choice.message.content or "", "annotations": []}]}],
        "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens,
                  "total_tokens": usage.total_tokens, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 0}},
    }
    return AlignedResponse.model_validate({**body, "alignment": getattr(completion, "alignment", None)})
