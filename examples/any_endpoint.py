"""Align answers of any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, ...), asynchronously.

    OPENAI_API_KEY=... python examples/any_endpoint.py https://api.openai.com/v1 gpt-4o-mini

The key is read from the environment and never printed or stored in results.
"""

import asyncio
import os
import sys

from hia import AsyncAligner, AsyncChatPolicy, LLMJudge, SearchOptions, TemplateOptimizer


async def main(base_url: str, model: str) -> None:
    key = os.environ.get("OPENAI_API_KEY")
    policy = AsyncChatPolicy(model, base_url=base_url, api_key=key, max_tokens=300)
    judge = LLMJudge(model, base_url=base_url, api_key=key)
    aligner = AsyncAligner(policy, judge, optimizer=TemplateOptimizer(), options=SearchOptions(method="hia"))
    questions = ["What is a monad?", "Why do cats purr?", "How does TCP avoid congestion?"]
    # Concurrent alignments, two policy calls each. Pass one hia.Budget instead to cap them together.
    results = await asyncio.gather(*(aligner.align(q, "complexity=1,verbosity=1", budget=2) for q in questions))
    for q, r in zip(questions, results):
        print(f"# {q}  ({r.usage.policy_calls} calls, scores {r.chosen.evaluation.scores})\n{r.response}\n")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
