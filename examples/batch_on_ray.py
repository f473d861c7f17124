"""Align a small batch on a local Ray cluster with the embedded models, under one budget.

    .venv/bin/python examples/batch_on_ray.py        # needs the ray extra: pip install 'hia[ray]'

The calling process keeps the budget (7 calls for 4 items: the last item gets what is left)
and the output file; two worker actors run the searches, each with its own clients and models.
Run it again and the finished items are skipped.
"""

import asyncio
import json
from pathlib import Path

from hia import Budget, ChatPolicy, RayOptions, SearchOptions, align_many
from hia.build import Settings, build
from hia.models.local import LocalModels

ITEMS = [{"id": "basil", "prompt": "How do I keep basil alive indoors?", "goal": "verbosity=1,complexity=1"},
         {"id": "tcp", "prompt": "Explain TCP slow start.", "goal": "verbosity=2,complexity=3"},
         {"id": "bread", "prompt": "Why does bread go stale?", "goal": "verbosity=1,complexity=0"},
         {"id": "tides", "prompt": "What causes the tides?", "goal": "verbosity=2,complexity=1"}]
OUT = Path("ray_batch.jsonl")

with LocalModels("template") as local, build(Settings(search=SearchOptions(method="hia"))) as pipeline, \
        ChatPolicy(local.policy.alias, base_url=local.policy.base_url, max_tokens=200) as policy, \
        pipeline.aligner(policy) as aligner:
    budget = Budget(7)
    report = asyncio.run(align_many(aligner, ITEMS, output=OUT, budget_per_item=2, shared_budget=budget, engine="ray",
                                ray=RayOptions(workers=2), concurrency=4))
    print(f"{report.done} aligned, {report.skipped} skipped, {budget.used} of {budget.total} calls spent "
          f"(workers started in {report.start_seconds:.1f} s)")
for line in OUT.read_text().splitlines():
    record = json.loads(line)
    result = record["result"] or {}
    print(f"- {record['id']}: {record['status']}, scores {result.get('scores')}, "
          f"{result.get('usage', {}).get('policy_calls', 0)} calls: {(result.get('response') or '')[:70]!r}")
