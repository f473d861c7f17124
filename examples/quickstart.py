"""Align one answer on the embedded local models, compare HIA with best-of-N at the same budget.

    .venv/bin/python examples/quickstart.py
"""

from hia import Aligner, ChatPolicy, LLMJudge, LLMOptimizer
from hia.local import LocalModels

PROMPT = "How do I keep basil alive indoors?"
GOAL = "helpfulness=4,verbosity=1"

with LocalModels() as local:
    policy = ChatPolicy(local.policy.alias, base_url=local.policy.base_url, max_tokens=128)
    judge = LLMJudge(local.policy.alias, base_url=local.policy.base_url)
    optimizer = LLMOptimizer(local.optimizer.alias, base_url=local.optimizer.base_url)
    with Aligner(policy, judge, optimizer=optimizer) as aligner:
        for method in ("hia", "best_of_n"):
            result = aligner.align(PROMPT, GOAL, budget=2, method=method)
            print(f"--- {method}: euclidean {result.reward:.2f}, scores {result.chosen.evaluation.scores}, "
                  f"{result.usage.policy_calls} policy calls, {len(result.candidates)} candidates")
            print(result.response)
