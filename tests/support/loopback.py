"""A loopback OpenAI-compatible server with no model, for tests and benchmarks.

It answers `/v1/chat/completions` after a set latency with text of the requested length
(`max_tokens` words), and `/v1/responses` at once, for passthrough, and at set rates misbehaves the ways real endpoints do: 429 with
Retry-After, 500, a hang past the client's timeout, a reset connection, or malformed JSON.
`parallel` caps how many requests it works on at once, like a server with few slots.

    with LoopbackServer(latency_s=0.2, faults=Faults(rate_limit=0.1)) as server:
        policy = ChatPolicy("loopback", base_url=server.base_url)
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from typing import Callable, Sequence


@dataclass(frozen=True)
class Faults:
    """Probability of each misbehaviour per chat request; the rest are answered normally."""

    rate_limit: float = 0.0  # 429 with Retry-After
    server_error: float = 0.0  # 500
    hang: float = 0.0  # no answer for `hang_s`
    reset: float = 0.0  # the connection is dropped
    malformed: float = 0.0  # 200 with a body that is not JSON
    retry_after_s: float = 0.05
    hang_s: float = 30.0

    def draw(self, rng: random.Random) -> str:
        x = rng.random()
        for name in ("rate_limit", "server_error", "hang", "reset", "malformed"):
            x -= getattr(self, name)
            if x < 0:
                return name
        return "ok"


class LoopbackServer:
    def __init__(self, *, latency_s: float = 0.0, parallel: int | None = None, faults: Faults = Faults(),
                 script: Sequence[str] = (), context_words: int | None = None, api_key: str | None = None,
                 responder: Callable[[dict], str] | None = None, seed: int = 0, model: str = "loopback",
                 host: str = "127.0.0.1", port: int = 0, echo_status: int | None = None) -> None:
        """`script` fixes the outcomes of the first requests ("ok", "rate_limit", "server_error", "hang",
        "reset", "malformed"); `context_words` rejects longer prompts with 400 like a real server;
        `api_key` makes it answer 401, echoing the key it got, as some providers do; `responder`
        writes the reply text from the request (default: `max_tokens` filler words); `echo_status` answers
        every chat and Responses request with that status and an error message that quotes the
        Authorization header it got and the key in it, as a careless upstream might."""
        self.echo_status = echo_status
        self.responder = responder
        self.script = list(script)
        self.context_words = context_words
        self.api_key = api_key
        self.latency_s = latency_s
        self.parallel = parallel
        self.faults = faults
        self.model = model
        self.host = host
        self.port = port
        self.outcomes: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0  # the most chat requests it was answering at once
        self.requests: list[dict] = []  # bodies of chat requests, in arrival order
        self.arrivals: list[float] = []  # time.monotonic() of each chat request's arrival
        self.answered: list[dict] = []  # bodies of the chat requests answered 200 with a completion
        self.headers: list[dict] = []
        self.responses_requests: list[dict] = []  # bodies of /v1/responses requests (answered as they come)
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._gate: asyncio.Semaphore | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "LoopbackServer":
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._gate = asyncio.Semaphore(self.parallel) if self.parallel else None
            self._server = loop.run_until_complete(asyncio.start_server(self._connection, self.host, self.port))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="hia-loopback", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def close() -> None:
            server.close()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = self._server = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP --------------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one request after another on the same connection
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
                body = await reader.readexactly(int(headers.get("content-length", 0) or 0))
                if not await self._respond(method, path, headers, body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # the client went away, or the server is stopping
        finally:
            writer.close()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, payload: bytes,
                    extra: dict[str, str] | None = None) -> None:
        reason = HTTPStatus(status).phrase
        head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json", f"Content-Length: {len(payload)}"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        await writer.drain()

    async def _respond(self, method: str, path: str, headers: dict, body: bytes, writer: asyncio.StreamWriter) -> bool:
        if method == "GET" and path.rstrip("/").endswith("/models"):
            await self._send(writer, 200, json.dumps({"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": "hia"}]}).encode())
            return True
        if method == "POST" and path.rstrip("/").endswith("/responses"):
            request = json.loads(body or b"{}")
            self.responses_requests.append(request)
            if self.echo_status is not None:
                await self._echo(writer, headers)
                return True
            await self._send(writer, 200, json.dumps(self._response(request)).encode())
            return True
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            await self._send(writer, 404, b'{"error": {"message": "not found"}}')
            return True
        request = json.loads(body or b"{}")
        self.arrivals.append(time.monotonic())
        self.requests.append(request)
        self.headers.append(headers)
        if self.echo_status is not None:
            await self._echo(writer, headers)
            return True
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            sent = headers.get("authorization", "").removeprefix("Bearer ")
            self.outcomes["unauthorised"] += 1
            await self._send(writer, 401, json.dumps({"error": {
                "message": f"Incorrect API key provided: {sent}", "type": "invalid_request_error"}}).encode())
            return True
        words = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
        if self.context_words is not None and words > self.context_words:
            self.outcomes["too_long"] += 1
            await self._send(writer, 400, json.dumps({"error": {
                "message": f"Requested tokens ({words}) exceed context window of {self.context_words}",
                "type": "invalid_request_error"}}).encode())
            return True
        outcome = self.script.pop(0) if self.script else self.faults.draw(self._rng)
        self.outcomes[outcome] += 1
        if outcome == "rate_limit":
            await self._send(writer, 429, b'{"error": {"message": "rate limited", "type": "rate_limit_error"}}',
                             {"Retry-After": f"{self.faults.retry_after_s:g}"})
            return True
        if outcome == "server_error":
            await self._send(writer, 500, b'{"error": {"message": "internal error"}}')
            return True
        if outcome == "hang":
            await asyncio.sleep(self.faults.hang_s)
            return False
        if outcome == "reset":
            writer.transport.abort()
            return False
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._gate is not None:
                async with self._gate:
                    await asyncio.sleep(self.latency_s)
            else:
                await asyncio.sleep(self.latency_s)
        finally:
            self.in_flight -= 1
        if outcome == "malformed":
            await self._send(writer, 200, b'{"id": "x", "choices": [{"message": ')
            return True
        await self._send(writer, 200, json.dumps(self._completion(request)).encode())
        self.answered.append(request)
        return True

    async def _echo(self, writer: asyncio.StreamWriter, headers: dict) -> None:
        """The error of `echo_status`, quoting the Authorization header it got and the key in it, bare."""
        self.outcomes[f"echo_{self.echo_status}"] += 1
        sent = headers.get("authorization", "")
        await self._send(writer, self.echo_status or 400, json.dumps({"error": {
            "message": f"cannot serve this request, sent with authorization {sent} (key {sent.removeprefix('Bearer ')})",
            "type": "invalid_request_error"}}).encode(), {"Retry-After": "0"})

    def _completion(self, request: dict) -> dict:
        prompt = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
        if self.responder is not None:
            text = self.responder(request)
        else:
            seed = request.get("seed") or 0
            text = " ".join(f"w{(seed + i) % 97}" for i in range(int(request.get("max_tokens") or 16)))
        words = len(text.split())
        return {
            "id": f"loopback-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", self.model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": words,
                      "total_tokens": len(prompt.split()) + words},
        }


    def _response(self, request: dict) -> dict:
        """A Responses API answer: `max_output_tokens` filler words, like a chat answer."""
        text = self.responder(request) if self.responder is not None else \
            " ".join(f"r{i}" for i in range(int(request.get("max_output_tokens") or 16)))
        given = request.get("input")
        words = len(given.split()) if isinstance(given, str) else len(json.dumps(given).split())
        return {"id": f"resp_loopback_{len(self.responses_requests)}", "object": "response",
                "created_at": int(time.time()), "status": "completed", "model": request.get("model", self.model),
                "output": [{"type": "message", "id": "msg_loopback", "status": "completed", "role": "assistant",
                            "content": [{"type": "output_text", "text": text, "annotations": []}]}],
                "parallel_tool_calls": False, "tool_choice": "auto", "tools": [],
                "usage": {"input_tokens": words, "output_tokens": len(text.split()),
                          "total_tokens": words + len(text.split()), "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}}


def numbered_rewrites(request: dict) -> str:
    """Replies like a prompt optimizer: numbered rewrites of the question in the last message."""
    last = str(request["messages"][-1]["content"])
    question = last.split("Question: ", 1)[-1].split("\n", 1)[0] if "Question: " in last else last
    styles = ["Answer briefly.", "Explain in detail, step by step.", "Use simple words.", "Give an expert answer.",
              "Answer in one sentence.", "Write several paragraphs.", "Be concise and clear.", "List the key points."]
    return "\n".join(f"{i}. {question} {style}" for i, style in enumerate(styles, 1))


def steady_answer(request: dict) -> str:
    """Replies like a policy: the same plain answer of about fifty words."""
    return " ".join(["The answer is as follows, with some detail."] * 6)


def varied_length(request: dict) -> str:
    """Replies like a policy sampling at a high temperature: 8 to 120 plain words, set by the seed."""
    seed = int(request.get("seed") or 0)
    return " ".join(["The plant needs light and water."] * (1 + (seed * 7) % 20))


RESPONDERS: dict[str, Callable[[dict], str] | None] = {
    "filler": None, "rewrites": numbered_rewrites, "answer": steady_answer, "varied": varied_length}


def main(argv: Sequence[str] | None = None) -> None:
    """Run a loopback server in its own process (so it does not share the client's interpreter)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.support.loopback", description=main.__doc__)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--parallel", type=int, default=None)
    parser.add_argument("--responder", choices=sorted(RESPONDERS), default="filler")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = LoopbackServer(latency_s=args.latency_ms / 1000, parallel=args.parallel,
                            responder=RESPONDERS[args.responder], port=args.port).start()
    print(server.base_url, flush=True)  # the parent reads the address from the first line
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
