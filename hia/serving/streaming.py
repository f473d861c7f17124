"""Server-sent events for `stream: true`.

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

from hia import _defaults as D

WORDS_PER_CHUNK = 8


def _event(payload: dict) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


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
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=keepalive_s)
            if done:
                break
            yield b": searching\n\n"
        completion = task.result()
    except Exception as exc:  # noqa: BLE001 - every failure becomes an event (cancellation is not an Exception)
        yield _event(error_body(exc))
        yield b"data: [DONE]\n\n"
        return
    finally:
        if not task.done():
            task.cancel()  # the client went away: stop paying for the search
    choice = completion["choices"][0]
    words = (choice["message"].get("content") or "").split(" ")
    for start in range(0, len(words), WORDS_PER_CHUNK):
        piece = " ".join(words[start:start + WORDS_PER_CHUNK])
        yield chunk({"content": piece if start == 0 else " " + piece})
    yield chunk({}, choice.get("finish_reason") or "stop")
    if include_usage and completion.get("usage"):
        yield _event({**base, "choices": [], "usage": completion["usage"]})
    yield b"data: [DONE]\n\n"
