"""End to end over HTTP: the real `openai` client against the real local llama.cpp servers.

Calls are bounded: short answers (max_tokens 48) and budgets of 1 and 2.
"""

import asyncio
import json
import subprocess
import sys

import numpy as np
import pytest

from hia import (
    AsyncAligner,
    AsyncChatPolicy,
    Budget,
    ChatPolicy,
    LLMJudge,
    LLMOptimizer,
)
from hia.core.usage import Usage
from hia.models.local import LocalModels

pytestmark = pytest.mark.integration
PROMPT = "How do I keep basil alive indoors?"


@pytest.fixture(scope="module")
def models():
    # The LLM optimizer is tested on its own server; the embedded default (templates) needs none.
    with LocalModels(optimizer_choice="smollm2") as m:
        yield m


def test_policy_answers_with_distinct_seeds_and_counts_tokens(models):
    policy = ChatPolicy(models.policy.alias, base_url=models.policy.base_url, max_tokens=24)
    usage = Usage()
    replies = [policy.complete([{"role": "user", "content": PROMPT}], seed=s, usage=usage) for s in (1, 2)]
    assert all(r.text.strip() for r in replies)
    assert usage.policy_calls == 2 and usage.prompt_tokens > 10 and 0 < usage.completion_tokens <= 48


def test_judge_reads_a_distribution_in_range(models):
    judge = LLMJudge(models.policy.alias, base_url=models.policy.base_url)
    usage = Usage()
    scores = judge.score([PROMPT, PROMPT], ["Water it.", "Give it six hours of sun, water when the top soil is dry, "
                                            "pinch the flower buds and keep it away from cold drafts."],
                         ["helpfulness", "verbosity"], usage=usage)
    assert scores.shape == (2, 2) and np.all((scores >= 0) & (scores <= 4))
    assert not np.all(scores == np.round(scores))  # expected values, not bare digits
    assert usage.roles["judge"].calls == 4


def test_optimizer_proposes_parsed_rewrites(models):
    from hia import Goal

    optimizer = LLMOptimizer(models.optimizer.alias, base_url=models.optimizer.base_url)
    usage = Usage()
    rewrites = asyncio.run(optimizer.propose(PROMPT, Goal.parse("verbosity=1"), 4, usage=usage))
    assert 1 <= len(rewrites) <= 4 and all(r.strip() for r in rewrites)
    assert 1 <= usage.optimizer_calls <= optimizer.max_calls


@pytest.mark.parametrize("method", ["best_of_n", "greedy", "beam", "hia_beam"])
def test_each_method_end_to_end_within_budget(models, method):
    policy = AsyncChatPolicy(models.policy.alias, base_url=models.policy.base_url, max_tokens=48)
    judge = LLMJudge(models.policy.alias, base_url=models.policy.base_url)
    optimizer = LLMOptimizer(models.optimizer.alias, base_url=models.optimizer.base_url)
    aligner = AsyncAligner(policy, judge, optimizer=optimizer)
    budget = Budget(2)
    result = asyncio.run(aligner.align(PROMPT, "helpfulness=4,verbosity=1", budget=budget, method=method))
    assert result.usage.policy_calls == budget.used <= 2
    assert result.response and result.chosen.evaluation.scores.keys() == {"helpfulness", "verbosity"}


@pytest.mark.parametrize("budget", [1, 2])
def test_cli_hia_json_spends_at_most_the_budget_and_explains_every_drop(budget):
    out = subprocess.run(
        [sys.executable, "-m", "hia.cli", "align", PROMPT, "--goal", "helpfulness=4,verbosity=1",
         "--budget", str(budget), "--method", "hia", "--max-tokens", "48", "--json"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["method"] == "hia" and data["budget"] == budget and data["response"]
    # The embedded default optimizer is the template one: its rewrites cost no optimizer call.
    assert data["usage"]["policy_calls"] <= budget and data["usage"]["optimizer_calls"] == 0
    rewrites = [c for c in data["candidates"] if c["source"] not in ("seed", "resample")]
    evaluated = [c for c in data["candidates"] if c["evaluation"] is not None]  # the root may be among them
    assert len(evaluated) == data["usage"]["policy_calls"]  # every call paid is on record, once
    assert len(rewrites) > budget  # the optimizer proposed more than could be paid for
    for c in data["candidates"]:
        if c["evaluation"] is None:
            assert c["dropped_by"] in ("stage1", "stage2") and c["reason"]


def test_calibrate_saves_a_heuristic_that_hia_uses_and_keeps_learning(models, tmp_path):
    from hia.models.policy import as_policy_fn
    from hia.rewards.learned import LearnedHeuristic
    from hia.rewards.shipped import default_reference
    from hia.training.calibration import calibrate

    policy = AsyncChatPolicy(models.policy.alias, base_url=models.policy.base_url, max_tokens=24)
    optimizer = LLMOptimizer(models.optimizer.alias, base_url=models.optimizer.base_url)
    reference = default_reference()
    heuristic, report = asyncio.run(calibrate(
        ["What is rust on iron?", "How do magnets work?"], ["Why is the sea salty?"], optimizer=optimizer,
        policy=as_policy_fn(policy), reference=reference, attributes=["verbosity", "complexity"], rewrites=2,
        policy_calls=6))
    assert report.usage.policy_calls <= 6 and report.train_evidence >= 1 and report.heldout_evidence >= 1
    assert set(report.spearman) == {"zero_shot", "offline", "online"}
    path = heuristic.save(tmp_path / "h.json")
    loaded = LearnedHeuristic.load(path)
    assert len(loaded.evidence) == report.train_evidence + report.heldout_evidence

    aligner = AsyncAligner(policy, reference, optimizer=optimizer, heuristic=loaded)
    before = len(loaded.evidence)
    result = asyncio.run(aligner.align(PROMPT, "verbosity=1", budget=1, method="hia"))
    assert result.usage.policy_calls == 1
    assert len(loaded.evidence) == before + 1  # the answer it paid for became evidence (online learning)


def test_examples_talk_to_hia_serve_and_wrap_a_client(tmp_path):
    """Both examples against the embedded local models: the proxy in a subprocess, and the wrapper."""
    import os
    import time
    import urllib.request
    from pathlib import Path

    from hia.models.local import free_port

    root = Path(__file__).resolve().parents[1]
    port = free_port()
    env = {**os.environ, "HIA_PROFILES_DB": str(tmp_path / "profiles.sqlite")}
    server = subprocess.Popen([sys.executable, "-m", "hia.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "hia serve did not come up"
                time.sleep(0.5)
        out = subprocess.run([sys.executable, str(root / "examples" / "talk_to_hia_serve.py"),
                              f"http://127.0.0.1:{port}/v1"], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() and "usage over every internal call" in out.stdout
    finally:
        server.terminate()
        server.wait(30)
    out = subprocess.run([sys.executable, str(root / "examples" / "wrap_in_three_lines.py")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "policy calls: " in out.stdout and int(out.stdout.rsplit("policy calls: ", 1)[1]) <= 2
