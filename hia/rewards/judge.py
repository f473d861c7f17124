"""A reference reward model that asks a chat model to grade, reading its score distribution.

One call per (response, attribute), asking for a single digit 0-4 with `max_tokens=1` and
`top_logprobs`; the score is the expected value of the digit under the model's distribution,
which is smoother and more informative than the one digit it would print. The request gives
a five-level rubric and the answer's word count (small judges misjudge length badly without
it). The rubric comes last in the message so an endpoint that caches prompt prefixes (llama.cpp does) reads the
question and answer once for all attributes.
"""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any, Sequence

import numpy as np

from hia import _defaults as D
from hia.core.attributes import get_attribute
from hia.core.loop import LoopThread
from hia.core.usage import Usage
from hia.errors import RewardModelError
from hia.models.chat import AsyncChatEndpoint, ChatReply, Message
from hia.rewards.base import ReferenceRewardModel

DIGITS = "01234"


def score_from_reply(reply: ChatReply) -> float:
    """Expected digit 0-4 from the first token's top logprobs, else the digit the model wrote."""
    weights = {d: 0.0 for d in DIGITS}
    for token, logprob in reply.first_token_logprobs.items():
        token = token.strip()
        if token in weights:
            weights[token] += math.exp(logprob)
    total = sum(weights.values())
    if total > 0:
        return sum(int(d) * w for d, w in weights.items()) / total
    match = re.search(r"[0-4]", reply.text)
    if match:
        return float(match.group())
    raise RewardModelError(f"the judge answered {reply.text[:40]!r}, which holds no score from 0 to 4")


class LLMJudge(ReferenceRewardModel):
    """Grades (prompt, response) pairs on each attribute with a chat model's 0-4 distribution."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 concurrency: int = D.JUDGE_CONCURRENCY, max_response_chars: int = D.JUDGE_MAX_RESPONSE_CHARS, rubric: bool = True, timeout: float = D.REQUEST_TIMEOUT_S,
                 max_retries: int = D.MAX_RETRIES, **endpoint_kwargs: Any) -> None:
        settings = dict(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries,
                        role="judge", **endpoint_kwargs)
        self.endpoint = AsyncChatEndpoint(model, **settings)
        self._loop = LoopThread()  # drives ascore for the blocking score
        self.concurrency = concurrency
        self.max_response_chars = max_response_chars
        self.rubric = rubric  # the five-level scale and the answer's length in the request

    def messages(self, prompt: str, response: str, attribute: str) -> list[Message]:
        a = get_attribute(attribute)
        answer = response[: self.max_response_chars]
        if self.rubric and a.levels:
            scale = "\n".join(f"{i} = {level}" for i, level in enumerate(a.levels))
        else:
            scale = f"0 = {a.low_means}\n4 = {a.high_means}"
        length = f"(The answer is {len(response.split())} words long.)\n\n" if self.rubric else ""
        return [
            {"role": "system", "content": "You are a strict, fair grader of answers."},
            {"role": "user", "content": (
                f"Question:\n{prompt}\n\nAnswer:\n{answer}\n\n{length}"
                f"Rate the {a.name} of the answer ({a.description}) on this scale:\n{scale}\n"
                "Reply with a single digit."
            )},
        ]

    _PARAMS = {"max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": D.JUDGE_TOP_LOGPROBS}

    @staticmethod
    def _to_scale(digit_score: float, attribute: str) -> float:
        a = get_attribute(attribute)
        return a.low + (a.high - a.low) * digit_score / 4.0

    async def ascore(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
                     usage: Usage | None = None) -> np.ndarray:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(prompt: str, response: str, attribute: str) -> float:
            async with gate:
                reply = await self.endpoint.chat(self.messages(prompt, response, attribute), usage=usage, **self._PARAMS)
            return self._to_scale(score_from_reply(reply), attribute)

        jobs = [one(p, r, a) for p, r in zip(prompts, responses) for a in attributes]
        values = await asyncio.gather(*jobs)
        return np.array(values, dtype=float).reshape(len(responses), len(attributes))

    def score(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
              usage: Usage | None = None) -> np.ndarray:
        return self._loop.run(self.ascore(prompts, responses, attributes, usage=usage))
