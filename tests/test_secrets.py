"""A planted key must not appear in any output: logs, errors, results, caches, JSONL, reprs."""

import asyncio
import logging
import os
import subprocess
import sys

import openai
import pytest

import hia
from hia import (
    AsyncAligner,
    AsyncChatPolicy,
    ChatPolicy,
    LLMJudge,
    LLMOptimizer,
    TemplateOptimizer,
    align_many,
)
from hia.rewards.cached import CachedReference
from hia.serving import ProxyServer
from hia.storage.cache import Cache
from tests.support.loopback import LoopbackServer

from .fakes import HashEmbedder, KeywordHeuristic, LengthReference

KEY = "sk-PLANTEDsecret-9f8e7d6c5b4a39281706"
TOKEN = "proxy-PLANTEDtoken-5566778899"


def test_key_never_reaches_logs_results_caches_or_errors(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # the most a user could turn on, the client libraries' debug logs included
    seen: list[str] = []
    with LoopbackServer(api_key=KEY) as server:
        # 1. library: an alignment, its JSON, a batch file, a SQLite cache, reprs
        cache = Cache(tmp_path / "cache.sqlite")
        policy = AsyncChatPolicy("m", base_url=server.base_url, api_key=KEY, max_tokens=4)
        reference = CachedReference(LengthReference(), cache, "length")
        aligner = AsyncAligner(policy, reference, optimizer=TemplateOptimizer(), heuristic=KeywordHeuristic(),
                               embedder=HashEmbedder())
        result = asyncio.run(aligner.align("Why?", "verbosity=2", budget=2))
        seen.append(result.to_json())
        asyncio.run(align_many(aligner, [{"id": 1, "prompt": "How?", "goal": "verbosity=1"}],
                                       output=tmp_path / "out.jsonl", progress=False))
        seen += [repr(policy.endpoint), repr(ChatPolicy("m", base_url=server.base_url, api_key=KEY).endpoint),
                 repr(LLMJudge("m", base_url=server.base_url, api_key=KEY).endpoint),
                 repr(LLMOptimizer("m", base_url=server.base_url, api_key=KEY).endpoint)]

        # 2. a wrong key: the server echoes what it got; the error must not
        wrong = AsyncChatPolicy("m", base_url=server.base_url, api_key=KEY + "x", max_tokens=4)
        with pytest.raises(hia.AuthenticationFailed) as refused:
            asyncio.run(AsyncAligner(wrong, LengthReference(), optimizer=TemplateOptimizer()).align(
                "Why?", "verbosity=2", budget=1, method="best_of_n"))
        seen += [str(refused.value), repr(refused.value), refused.value.result.to_json()]

        # 3. the CLI, key from the environment, JSON out and error out
        env = {**os.environ, "PLANTED_KEY": KEY}
        for key_env in ("PLANTED_KEY", "NO_SUCH_VARIABLE"):
            out = subprocess.run([sys.executable, "-m", "hia.cli", "align", "Why?", "--goal", "verbosity=1",
                                  "--base-url", server.base_url, "--model", "m", "--api-key-env", key_env,
                                  "--budget", "1", "--json", "--cache-file", str(tmp_path / "cli-cache.sqlite")],
                                 capture_output=True, text=True, env=env, timeout=120)
            seen += [out.stdout, out.stderr]
        assert '"policy_calls": 1' in seen[-4]  # the run with the right key worked

        # 4. the proxy, with an upstream key and a bearer token, logging requests
        with ProxyServer(upstream_url=server.base_url, model="m", api_key=KEY, token=TOKEN) as proxy:
            c = openai.OpenAI(base_url=proxy.base_url, api_key=TOKEN, max_retries=0)
            reply = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "Why?"}],
                                              max_tokens=3, extra_body={"goal": "verbosity=1", "budget": 1})
            seen.append(reply.model_dump_json())
            with pytest.raises(openai.AuthenticationError) as unauthorised:
                openai.OpenAI(base_url=proxy.base_url, api_key=TOKEN + "x", max_retries=0).models.list()
            seen.append(str(unauthorised.value))

    files = [tmp_path / "out.jsonl", tmp_path / "cache.sqlite", tmp_path / "cli-cache.sqlite"]
    blobs = [f.read_bytes() for f in files if f.exists()]
    assert len(blobs) == 3
    seen.append(caplog.text)
    for text in seen:
        assert KEY not in text and TOKEN not in text
    for blob in blobs:
        assert KEY.encode() not in blob and TOKEN.encode() not in blob


ECHOED_KEYS = ["sk-PLANTED200-abcdefghijklmnop1234",  # the sk- shape
               "f3a9c2e17b5d4086a1e2c3d4b5a69788",  # an Azure-style 32-hex key
               "Zq8.random~shape!key_40chars-0123456789x"]  # 40 characters of no shape: known only as the value sent


@pytest.mark.parametrize("key", ECHOED_KEYS)
def test_a_key_echoed_in_a_200_body_reaches_no_output(tmp_path, key):
    def echo(request: dict) -> str:  # a careless upstream: the key in its answer, bare and as a bearer value
        return f"here is what you sent: {key} (Authorization: Bearer {key}), and the answer is yes"

    seen: list[str] = []
    trace = tmp_path / "trace.jsonl"
    with LoopbackServer(responder=echo) as upstream:
        async def through_the_wrapper() -> None:
            client = hia.wrap(openai.AsyncOpenAI(base_url=upstream.base_url, api_key=key, max_retries=0))
            aligned = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi?"}],
                                                           extra_body={"goal": "verbosity=1", "budget": 2})
            passed = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi?"}])
            seen.extend([aligned.model_dump_json(), aligned.alignment.to_json(), passed.model_dump_json()])
            await client.close()

        asyncio.run(through_the_wrapper())
        with ProxyServer(upstream_url=upstream.base_url, model="m", api_key=key, trace=trace) as proxy:
            client = openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)
            for extra in ({"extra_body": {"goal": "verbosity=1", "budget": 1}}, {}):
                seen.append(client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "Hi?"}], **extra).model_dump_json())
                chunks = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi?"}],
                                                        stream=True, **extra)
                seen.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
        seen.append(trace.read_text())
    assert all("answer is yes" in text for text in seen[:1])  # the rest of the answer is kept
    for text in seen:
        assert key not in text


@pytest.mark.parametrize("status", [400, 404, 422, 429, 500])
@pytest.mark.parametrize("key", ECHOED_KEYS)
def test_a_key_echoed_in_an_error_body_reaches_neither_the_client_nor_the_trace(tmp_path, key, status):
    trace = tmp_path / "trace.jsonl"
    with LoopbackServer(echo_status=status) as upstream, \
            ProxyServer(upstream_url=upstream.base_url, model="m", api_key=key, trace=trace) as proxy:
        client = openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)
        for extra in ({"extra_body": {"goal": "verbosity=1", "budget": 1}}, {}):
            with pytest.raises(openai.APIStatusError) as info:
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi?"}], **extra)
            assert key not in info.value.response.text
    assert key not in (trace.read_text() if trace.exists() else "")
