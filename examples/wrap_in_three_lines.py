"""Add alignment to code that already uses the openai client, in three lines.

    .venv/bin/python examples/wrap_in_three_lines.py   # starts the embedded local models
"""

import openai

import hia
from hia.models.local import LocalModels

with LocalModels() as local:  # any OpenAI-compatible endpoint works the same way
    client = openai.OpenAI(base_url=local.policy.base_url, api_key="unused")

    client = hia.wrap(client)  # 1. wrap
    reply = client.chat.completions.create(  # 2. call as before, 3. with a goal
        model=local.policy.alias, messages=[{"role": "user", "content": "What is a prime number?"}],
        max_tokens=96, extra_body={"goal": "complexity=0,verbosity=1", "budget": 2})

    print(reply.choices[0].message.content)
    print("scores:", reply.alignment.chosen.evaluation.scores, "policy calls:", reply.alignment.usage.policy_calls)
