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
