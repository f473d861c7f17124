"""Learning from use: does the heuristic choose better as it learns the policy?

    .venv/bin/python benchmarks/learning.py             # 24 held-out HelpSteer items, hia at budget 1
    .venv/bin/python benchmarks/learning.py --quick     # 3 items, short answers (what the tests run)
    .venv/bin/python benchmarks/learning.py --data path/to/helpsteer.jsonl

The evaluation items (drawn as benchmarks/helpsteer.py draws them) stream in a fixed order
through one aligner with online learning on, so each item learns only from the ones before it:
- `online_cold`: from nothing learned (the shipped prior only);
- `online_warm`: after --warm development-split items streamed through the same aligner first
  (calibration by use, on prompts the benchmark never evaluates);
- `frozen`: the shipped heuristic, learning nothing, on the same items.
All three align at budget 1 with the same seeds, so they differ only in which prompt stage 2
pays for. Answers are cached by (prompt, seed): a prompt two conditions choose is answered once.
The trained reference judges and teaches. Results: benchmarks/results/learning.json, with hia@1's
mean reward over the first and the last third of the stream, and the paired difference to
`frozen` on the same items, with bootstrap intervals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
from pathlib import Path

import numpy as np
from _harness import bootstrap
from helpsteer import DEFAULT_DATA, MAX_PROMPT_WORDS, items, judgeable

from hia import AsyncAligner, SearchOptions
from hia.build import Endpoint, Settings, build_policy, build_reference
from hia.models.chat import ChatReply
from hia.models.embeddings import shared_embedder
from hia.rewards.policy_memory import PolicyMemory
from hia.rewards.shipped import default_heuristic
from hia.storage.cache import Cache
from hia.storage.jsonl import JsonlWriter, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


class CachedAnswers:
    """The policy, with every (prompt, seed) answered once and kept in a JSONL file (resumable)."""

    def __init__(self, policy: object, path: Path) -> None:
        self.policy = policy
        self.answers = {(r["prompt"], r["seed"]): r for r in (line.value for line in read_jsonl(path))
                        if isinstance(r, dict)} if path.exists() else {}
        self.writer = JsonlWriter(path)
        self.paid = 0

    async def __call__(self, prompt: str, seed: int = 0) -> ChatReply:
        found = self.answers.get((prompt, seed))
        if found is None:
            reply = await self.policy.complete([{"role": "user", "content": prompt}], seed=seed)  # type: ignore[attr-defined]
            found = {"prompt": prompt, "seed": seed, "text": reply.text, "in": reply.prompt_tokens,
                     "out": reply.completion_tokens}
            self.writer.write(found)
            self.answers[(prompt, seed)] = found
            self.paid += 1
        return ChatReply(text=found["text"], prompt_tokens=found["in"], completion_tokens=found["out"])


async def stream(aligner: AsyncAligner, bench: list, label: str) -> list[float]:
    rewards = []
    for n, item in enumerate(bench, 1):
        result = await aligner.align(item.prompt, item.goals["trained"], budget=1, method="hia")
        rewards.append(result.reward)
        print(f"{label} [{n}/{len(bench)}] reward {result.reward:+.3f} ({result.chosen.source})", flush=True)
    return rewards


def thirds(values: list[float], baseline: list[float]) -> dict:
    k = max(1, len(values) // 3)
    out = {}
    for name, part in (("first_third", slice(0, k)), ("last_third", slice(len(values) - k, len(values)))):
        mean, ci = bootstrap(values[part])
        diff, diff_ci = bootstrap(list(np.subtract(values[part], baseline[part])))
        out[name] = {"items": len(values[part]), "mean": round(mean, 4), "ci95": [round(v, 4) for v in ci],
                     "minus_frozen": {"mean": round(diff, 4), "ci95": [round(v, 4) for v in diff_ci]}}
    mean, ci = bootstrap(list(np.subtract(values, baseline)))
    out["all_minus_frozen"] = {"mean": round(mean, 4), "ci95": [round(v, 4) for v in ci]}
    return out


async def main(args: argparse.Namespace) -> None:
    from hia.models.local import LocalModels

    store = Cache()
    trained = build_reference(Settings(reference="attributes"), store)
    exact = build_reference(Settings(reference="exact"), store)
    attributes = [a for a in judgeable(trained) if a in exact.attributes]
    bench = items(args.data, args.items, args.max_prompt_words, attributes, args.seed)
    warm = items(args.data, args.warm, args.max_prompt_words, attributes, args.seed, part="dev")
    embedder = shared_embedder()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{len(bench)} evaluation items, {len(warm)} development items to warm up on")
    with LocalModels("template") as local:
        policy = build_policy(Endpoint(local.policy.base_url, local.policy.alias), blocking=False,
                              max_tokens=args.max_tokens)
        answers = CachedAnswers(policy, args.out_dir / "learning_answers.jsonl")

        def aligner(learn: bool) -> AsyncAligner:
            heuristic = default_heuristic(embedder, PolicyMemory(None))  # learns in this run only
            return AsyncAligner(answers, trained, heuristic=heuristic, embedder=embedder,
                                options=SearchOptions(online_learning=learn))

        frozen = await stream(aligner(False), bench, "frozen")
        cold = await stream(aligner(True), bench, "online_cold")
        warmed = aligner(True)
        await stream(warmed, warm, "warm-up")
        warmed_rewards = await stream(warmed, bench, "online_warm")
        await policy.close()
    report = {"n_items": len(bench), "warm_items": len(warm), "budget": 1, "reference": "trained",
              "data": Path(args.data).name, "max_tokens": args.max_tokens, "quick": args.quick,
              "policy": "Qwen2.5-Coder-0.5B-Instruct (embedded)", "paid_calls": answers.paid,
              "machine": f"{platform.machine()}, {platform.system()}, {__import__('os').cpu_count()} cores",
              "frozen": {"mean": round(float(np.mean(frozen)), 4)},
              "online_cold": thirds(cold, frozen), "online_warm": thirds(warmed_rewards, frozen)}
    path = args.out_dir / "learning.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--warm", type=int, default=24, help="development items streamed first for online_warm")
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--max-prompt-words", type=int, default=MAX_PROMPT_WORDS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.items, args.warm, args.max_tokens = 3, 3, 32
    asyncio.run(main(args))
