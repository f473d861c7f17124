"""One sweep for the key: an upstream echoes the key it is sent, bare and as a bearer value, in
bodies of every status, and everything hia says or writes is searched for it.

The outputs: the CLI's stdout and stderr (`hia align --json`, `hia batch`, `hia export-pairs` in
both formats), every log record at DEBUG, and every file the run leaves (the batch JSONL, its
answer journal, the SQLite cache, the proxy's trace and profiles database, the policy memory,
the exports), then the proxy's answers, plain and streamed, chat and Responses, aligned and
passed through, and the wrapper's answers and errors, sync and async.
"""

from __future__ import annotations

import asyncio
import json
import logging

import openai
import pytest

import hia
from hia.build import Settings, build
from hia.cli import main as hia_main
from hia.serving import ProxyServer
from hia.serving.profiles import ProfileStore
from tests.support.loopback import LoopbackServer

from .test_secrets import ECHOED_KEYS

STATUSES = [200, 400, 404, 422, 429, 500]
ALIGNED = {"goal": "verbosity=1", "budget": 2}


def reply_text(reply) -> str:
    """What a client is shown of a reply: a stream's every chunk, or the reply and its alignment."""
    if hasattr(reply, "__iter__") and not hasattr(reply, "model_dump_json"):
        return "".join(chunk.model_dump_json() for chunk in reply)  # an error event raises here
    return reply.model_dump_json() + (reply.alignment.to_json() if getattr(reply, "alignment", None) else "")


def error_text(exc: Exception) -> str:
    """What a client is shown of an error: openai's with its body and response, hia's with the
    alignment it carries."""
    if isinstance(exc, openai.APIError):
        response = getattr(exc, "response", None)
        return f"{exc} {exc.body} {response.text if response is not None else ''}"
    result = getattr(exc, "result", None)
    return f"{exc!s} {exc!r} {result.to_json() if result is not None else ''}"


def outcome(call) -> str:
    try:
        return reply_text(call())
    except (openai.APIError, hia.HiaError) as exc:
        return error_text(exc)


async def async_outcome(call) -> str:
    try:
        return reply_text(await call())
    except (openai.APIError, hia.HiaError) as exc:
        return error_text(exc)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("key", ECHOED_KEYS)
def test_an_echoed_key_is_in_no_output_of_any_kind(tmp_path, monkeypatch, caplog, capfd, key, status):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HIA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HIA_MEMORY_DIR", str(tmp_path / "memory"))
    monkeypatch.setenv("PLANTED_KEY", key)
    items = tmp_path / "inputs" / "items.jsonl"
    items.parent.mkdir()
    items.write_text("".join(json.dumps({"id": i, "prompt": p, "goal": "verbosity=1"}) + "\n"
                             for i, p in enumerate(["Why is the sky blue?", "How do bees fly?"])))

    journal = tmp_path / "out.jsonl.answers.jsonl"  # deleted once every item is recorded: read while it runs
    journaled: list[bytes] = []

    def echo(request: dict) -> str:
        if journal.exists():
            journaled.append(journal.read_bytes())
        return f"here is what you sent: {key} (Authorization: Bearer {key}), and the answer is yes"

    seen: list[str] = []
    codes: list[int] = []
    with LoopbackServer(responder=echo, echo_status=None if status == 200 else status) as upstream:
        endpoint = ["--base-url", upstream.base_url, "--model", "m", "--api-key-env", "PLANTED_KEY",
                    "--reference", "exact", "--cache-file", str(tmp_path / "cache.sqlite")]
        codes.append(hia_main(["align", "Why?", "--goal", "verbosity=1", "--budget", "2", "--json", *endpoint]))
        codes.append(hia_main(["batch", str(items), "--out", str(tmp_path / "out.jsonl"), "--budget", "2", *endpoint]))

        pipeline = build(Settings(reference="exact"))  # no model to load: the sweep is about text
        profiles = ProfileStore(tmp_path / "profiles.sqlite")
        profiles.set("alice", "verbosity=1", budget=2)
        trace = tmp_path / "trace.jsonl"
        for store, traced in ((profiles, None), (None, trace)):  # a proxy holds profiles or writes a trace
            with ProxyServer(upstream_url=upstream.base_url, model="m", api_key=key, pipeline=pipeline,
                             profiles=store, trace=traced) as proxy:
                client = openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)
                user = {"extra_headers": {"X-HIA-Profile": "alice"}} if store else {}
                for extra in ({"extra_body": ALIGNED}, user, {}):
                    for stream in (False, True):
                        seen.append(outcome(lambda: client.chat.completions.create(
                            model="m", messages=[{"role": "user", "content": "Hi?"}], stream=stream, **extra)))
                        seen.append(outcome(lambda: client.responses.create(
                            model="m", input="Hi?", stream=stream, **extra)))

        wrapped = hia.wrap(openai.OpenAI(base_url=upstream.base_url, api_key=key, max_retries=0), pipeline=pipeline)
        for extra in ({"extra_body": ALIGNED}, {}):
            seen.append(outcome(lambda: wrapped.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Hi?"}], **extra)))
            seen.append(outcome(lambda: wrapped.responses.create(model="m", input="Hi?", **extra)))
        wrapped.close()

        async def through_the_async_wrapper() -> None:
            client = hia.wrap(openai.AsyncOpenAI(base_url=upstream.base_url, api_key=key, max_retries=0), pipeline=pipeline)
            for extra in ({"extra_body": ALIGNED}, {}):
                seen.append(await async_outcome(lambda: client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "Hi?"}], **extra)))
                seen.append(await async_outcome(lambda: client.responses.create(model="m", input="Hi?", **extra)))
            await client.close()

        asyncio.run(through_the_async_wrapper())

    for form in ("dpo", "kto"):
        hia_main(["export-pairs", str(tmp_path / "out.jsonl"), str(trace), "--format", form, "--min-margin", "0",
                  "--out", str(tmp_path / f"pairs-{form}.jsonl")])
    printed = capfd.readouterr()
    seen += [printed.out, printed.err, caplog.text]

    written = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*")
               if p.is_file() and "inputs" not in p.parts}
    written.update({f"journal while running ({i})": blob for i, blob in enumerate(journaled)})
    assert {"out.jsonl", "cache.sqlite", "profiles.sqlite", "trace.jsonl"} <= set(written), \
        sorted(written)
    assert len(upstream.requests) + len(upstream.responses_requests) >= 20  # every path above reached the upstream
    if status == 200:
        assert codes == [0, 0]
        assert b"the answer is yes" in written["out.jsonl"] and b"the answer is yes" in written["trace.jsonl"]
        assert any(b"the answer is yes" in blob for blob in journaled)  # the journal was read with answers in it
        assert any(name.startswith("memory/") for name in written)  # what was learned about the policy is kept
    else:
        assert codes == [2, 1] and str(status) in printed.err  # the failure is reported, without the key
    for number, text in enumerate(seen):
        assert key not in text, f"the key is in output {number} of {len(seen)}"
    for name, blob in written.items():
        assert key.encode() not in blob, f"the key is in {name}"
