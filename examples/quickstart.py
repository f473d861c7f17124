"""Align one answer on the embedded local models, and compare HIA with best-of-N at the same budget.

    .venv/bin/python examples/quickstart.py

The goal names only attributes the shipped reference model can judge (verbosity and complexity);
each answer is also scored by the exact reference (word count and reading grade).
"""

from hia import Aligner, ChatPolicy, ExactReference, LLMOptimizer, TemplateOptimizer, default_reference
from hia.models.local import LocalModels

PROMPT = "How do I keep basil alive indoors?"
GOAL = "verbosity=1,complexity=1"

with LocalModels() as local:
    policy = ChatPolicy(local.policy.alias, base_url=local.policy.base_url, max_tokens=400)
    optimizer = (LLMOptimizer(local.optimizer.alias, base_url=local.optimizer.base_url)
                 if local.optimizer is not None else TemplateOptimizer())
    exact = ExactReference()
    with Aligner(policy, default_reference(), optimizer=optimizer) as aligner:
        for method in ("hia", "best_of_n"):
            result = aligner.align(PROMPT, GOAL, budget=2, method=method)
            measured = exact.score([PROMPT], [result.response], ["verbosity", "complexity"])[0]
            print(f"--- {method}: euclidean {result.reward:.2f}, scores {result.chosen.evaluation.scores}, "
                  f"exact verbosity {measured[0]:.1f} complexity {measured[1]:.1f}, "
                  f"{result.usage.policy_calls} policy calls, {len(result.candidates)} candidates")
            print(result.response)
