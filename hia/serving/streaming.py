"""Server-sent events for `stream: true`, in the chat and the Responses API's formats.

An aligned answer exists only once the search has chosen it: every candidate answer must be
scored before one can be picked, so its first word cannot be sent earlier. What can be sent at
once is the role chunk, and then a comment line every few seconds, so clients and load balancers
see a live stream during the 10-60 s a search takes. Then the chosen answer follows as
`chat.completion.chunk` events, a few words each, and `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from hia import _defaults as D

WORDS_PER_CHUNK = 8


def _event(payload: dict) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def pieces(text: str) -> list[str]:
    """The answer in pieces of a few words; joined, they are the answer again."""
    words = text.split(" ")
    return [(" " if start else "") + " ".join(words[start:start + WORDS_PER_CHUNK])
            for start in range(0, len(words), WORDS_PER_CHUNK)]


async def _while_searching(work: Awaitable[Any], keepalive_s: float, outcome: list[Any]) -> AsyncIterator[bytes]:
    """A keep-alive comment every `keepalive_s` until `work` ends; then its result, or the
    exception it raised, is put in `outcome`. If the client goes away first, the work is
    cancelled: nobody pays for a search whose answer cannot be delivered."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=keepalive_s)
            if done:
                break
            yield b": searching\n\n"
        outcome.append(task.result())
    except Exception as exc:  # noqa: BLE001 - every failure becomes an event (cancellation is not an Exception)
        outcome.append(exc)
    finally:
        if not task.done():
            task.cancel()


async def stream_completion(work: Awaitable[dict], *, model: str, include_usage: bool,
                            error_body: Callable[[BaseException], dict],
                            keepalive_s: float = D.SERVE_STREAM_KEEPALIVE_S) -> AsyncIterator[bytes]:
    """The events of one streamed request: the role chunk at once, keep-alive comments while
    `work` (the search, returning a chat.completion dict) runs, then its answer. An error after
    the stream has started is sent as an `error` event, which the openai clients raise."""
    base = {"id": f"chatcmpl-hia-{uuid.uuid4().hex[:20]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return _event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    yield chunk({"role": "assistant", "content": ""})
    outcome: list[Any] = []
    async for keepalive in _while_searching(work, keepalive_s, outcome):
        yield keepalive
    if isinstance(outcome[0], Exception):
        yield _event(error_body(outcome[0]))
        yield b"data: [DONE]\n\n"
        return
    completion = outcome[0]
    choice = completion["choices"][0]
    for piece in pieces(choice["message"].get("content") or ""):
        yield chunk({"content": piece})
    yield chunk({}, choice.get("finish_reason") or "stop")
    if include_usage and completion.get("usage"):
        yield _event({**base, "choices": [], "usage": completion["usage"]})
    yield b"data: [DONE]\n\n"


async def stream_response(work: Awaitable[dict], *, created: dict, error_body: Callable[[BaseException], dict],
                          keepalive_s: float = D.SERVE_STREAM_KEEPALIVE_S) -> AsyncIterator[bytes]:
    """The Responses API events of one streamed request: `response.created` and
    `response.in_progress` at once (`created` is the response in progress), keep-alive comments
    while `work` (returning the finished Response dict) runs, then the answer as
    `response.output_text.delta` events and `response.completed` with the usage. A failure is an
    `error` event and then `response.failed`."""
    sequence = iter(range(1 << 62))

    def event(kind: str, **fields: Any) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': next(sequence), **fields})}\n\n".encode()

    yield event("response.created", response=created)
    yield event("response.in_progress", response=created)
    outcome: list[Any] = []
    async for keepalive in _while_searching(work, keepalive_s, outcome):
        yield keepalive
    if isinstance(outcome[0], Exception):
        error = error_body(outcome[0])["error"]
        yield event("error", code=error.get("code"), message=error["message"], param=error.get("param"))
        yield event("response.failed", response={**created, "status": "failed",
                                                 # the Response object's codes are a fixed few; the error event has hia's
                                                 "error": {"code": "server_error", "message": error["message"]}})
        return
    response = outcome[0]
    for index, item in enumerate(response.get("output") or []):  # a passed-through answer may hold other items
        yield event("response.output_item.added", output_index=index,
                    item={**item, "status": "in_progress", **({"content": []} if item.get("type") == "message" else {})})
        for content_index, part in enumerate(item.get("content") or [] if item.get("type") == "message" else []):
            where = {"item_id": item["id"], "output_index": index, "content_index": content_index}
            yield event("response.content_part.added", **where, part={**part, "text": ""})
            for piece in pieces(part.get("text") or "") if part.get("type") == "output_text" else []:
                yield event("response.output_text.delta", **where, delta=piece, logprobs=[])
            if part.get("type") == "output_text":
                yield event("response.output_text.done", **where, text=part.get("text") or "", logprobs=[])
            yield event("response.content_part.done", **where, part=part)
        yield event("response.output_item.done", output_index=index, item=item)
    yield event("response.completed" if response.get("status") != "incomplete" else "response.incomplete",
                response=response)
