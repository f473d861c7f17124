"""End to end over HTTP: the real `openai` client against the real local llama.cpp servers.

Calls are bounded: short answers (max_tokens 48) and budgets of 1 and 2.
"""

import asyncio
import json
import subprocess
import sys

import numpy as np
import pytest

from hia import AsyncAligner, AsyncChatPolicy, Budget, ChatPolicy, LLMJudge, LLMOptimizer
from hia.local import LocalModels
from hia.usage import Usage

pytestmark = pytest.mark.integration
PROMPT = "How do I keep basil alive indoors?"


@pytest.fixture(scope="module")
def models():
    with LocalModels() as m:
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
    assert data["usage"]["policy_calls"] <= budget and data["usage"]["optimizer_calls"] >= 1
    rewrites = [c for c in data["candidates"] if c["source"] != "seed"]
    evaluated = [c for c in rewrites if c["evaluation"] is not None]
    assert len(evaluated) == data["usage"]["policy_calls"]
    assert len(rewrites) > budget  # the optimizer proposed more than could be paid for
    for c in rewrites:
        if c["evaluation"] is None:
            assert c["dropped_by"] in ("stage1", "stage2") and c["reason"]
