"""Prompt optimizers: turn the user's prompt into candidate prompts that steer toward the goal.

`LLMOptimizer` asks a cheap chat model on its own endpoint for numbered rewrites (the request
carries the goal, what each attribute means and worked examples as earlier chat turns, which
small models follow far better than examples pasted into one message) and parses them robustly.
`TemplateOptimizer` needs no model: it states the goal in a fixed set of phrasings.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

from . import _defaults as D
from ._chat import AsyncChatEndpoint, Message
from .attributes import get_attribute
from .goal import Goal
from .usage import Usage


@dataclass(frozen=True)
class Feedback:
    """How the answer to the prompt being rewritten scored, so the next rewrite can correct it."""

    scores: dict[str, float]

    def describe(self, goal: Goal) -> str:
        notes = []
        for name, target in goal.targets.items():
            got = self.scores.get(name)
            if got is None or abs(got - target) <= goal.tolerance:
                continue
            direction = "more" if got < target else "less"
            notes.append(f"{name} was {got:.1f}, wanted {target:g}: ask for {direction} {name}")
        return "; ".join(notes)


def goal_instruction(goal: Goal) -> str:
    """The goal as an instruction appended to a prompt (the goal-conditioned prompt)."""
    return f"Write your answer so that it has: {goal.describe()}."


def goal_conditioned_prompt(prompt: str, goal: Goal) -> str:
    return f"{prompt.rstrip()}\n\n{goal_instruction(goal)}"


class PromptOptimizer(ABC):
    """Proposes rewrites of a prompt toward a goal."""

    @abstractmethod
    async def propose(self, prompt: str, goal: Goal, n: int, *, original: str | None = None,
                      feedback: Feedback | None = None, usage: Usage | None = None) -> list[str]:
        """Up to `n` rewrites of `prompt`. `original` is the user's prompt when `prompt` is already a rewrite."""


class TemplateOptimizer(PromptOptimizer):
    """Deterministic rewrites: the user's prompt with the goal stated in different phrasings.

    Successive calls continue through the phrasings, so later rounds do not repeat earlier ones.
    """

    TEMPLATES = (
        "{prompt}\n\nWrite your answer so that it has: {goal}.",
        "{prompt}\n\nRequirements for the answer: {goal}.",
        "Answer the following request. Aim for {goal}.\n\n{prompt}",
        "{prompt}\n\n(Style of the answer: {goal}.)",
        "Please respond to this: {prompt}\nMake sure the response matches {goal}.",
        "Task: {prompt}\nTarget qualities of your reply, on 0-4 scales: {goal}.",
    )

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    async def propose(self, prompt: str, goal: Goal, n: int, *, original: str | None = None,
                      feedback: Feedback | None = None, usage: Usage | None = None) -> list[str]:
        note = feedback.describe(goal) if feedback else ""
        goal_text = goal.describe() + (f"; unlike the last answer: {note}" if note else "")
        with self._lock:
            start, self._next = self._next, self._next + n
        base = (original or prompt).strip()
        return [self.TEMPLATES[(start + i) % len(self.TEMPLATES)].format(prompt=base, goal=goal_text) for i in range(n)]


def _wishes(goal: Goal) -> str:
    """The goal in the optimizer's words: what each target means, not the numbers."""
    parts = []
    for name, target in goal.targets.items():
        attribute = get_attribute(name)
        frac = (target - attribute.low) / (attribute.high - attribute.low)
        if frac <= 0.25:
            parts.append(attribute.low_means)
        elif frac >= 0.75:
            parts.append(attribute.high_means)
        else:
            parts.append(f"{name} moderate, neither '{attribute.low_means}' nor '{attribute.high_means}'")
    return "; ".join(parts)


def _request(question: str, wishes: str, n: int, feedback: str = "") -> str:
    text = f"Question: {question}\nGoal for the answer: {wishes}\n"
    if feedback:
        text += f"The last answer missed the goal: {feedback}\n"
    return text + f"Write {n} rewritten prompts, numbered."


# Worked examples, sent as earlier chat turns.
_EXAMPLES: tuple[tuple[str, str, list[str]], ...] = (
    (
        "How do plants make food?",
        "very short and concise, a sentence or two; simple words a child understands",
        [
            "How do plants make food? Answer in one short sentence using simple words.",
            "In one or two sentences a child can follow, explain how plants make their food.",
            "Briefly and in plain words: how do plants make food?",
        ],
    ),
    (
        "What is a good way to learn Python?",
        "long and exhaustive, many paragraphs; fully answers the request, very useful",
        [
            "What is a good way to learn Python? Give a detailed, step-by-step plan with resources for each step.",
            "Explain thoroughly, over several paragraphs, the best ways to learn Python and why they work.",
            "I want to learn Python. Write a complete guide covering where to start, what to practise and how to keep improving.",
        ],
    ),
)

_SYSTEM = (
    "You rewrite questions into prompts for an AI assistant. You never answer the question. "
    "You keep the question and add instructions about the answer's style."
)

_NUMBERED = re.compile(r"^\s*(?:prompt\s*)?\(?(\d{1,2})[.):\]]\s*(.+)$", re.IGNORECASE)
_BULLET = re.compile(r"^\s*[-*•]\s+(.+)$")


def parse_rewrites(text: str) -> list[str]:
    """Rewrites from an optimizer's reply: numbered or bulleted lines, else non-empty paragraphs.

    Strips quotes and labels; drops echoes of the request ("Question:", "Goal ...").
    """
    lines = text.splitlines()
    items = [m.group(2) for line in lines if (m := _NUMBERED.match(line))]
    if not items:
        items = [m.group(1) for line in lines if (m := _BULLET.match(line))]
    if not items:
        items = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    rewrites = []
    for item in items:
        item = re.sub(r"\s+", " ", item).strip().strip("\"'“”").strip()
        item = re.sub(r"^(rewritten prompt|prompt|rewrite)\s*\d*\s*:\s*", "", item, flags=re.IGNORECASE)
        if not item or re.match(r"^(question|goal for the answer|goal)\s*:", item, re.IGNORECASE):
            continue
        rewrites.append(item)
    return rewrites


class LLMOptimizer(PromptOptimizer):
    """Rewrites from a chat model on an OpenAI-compatible endpoint of its own.

    One call asks for `n` numbered rewrites; small models often return fewer, so up to
    `max_calls` calls (distinct seeds) are made until `n` distinct ones are in hand.
    """

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 temperature: float = D.OPTIMIZER_TEMPERATURE, max_tokens: int = D.OPTIMIZER_MAX_TOKENS,
                 seed: int = D.OPTIMIZER_SEED, max_calls: int = 2, client: Any = None,
                 timeout: float = D.REQUEST_TIMEOUT_S, max_retries: int = D.MAX_RETRIES) -> None:
        self.endpoint = AsyncChatEndpoint(model, base_url=base_url, api_key=api_key, client=client,
                                          timeout=timeout, max_retries=max_retries, role="optimizer")
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.max_calls = max_calls
        self._calls = 0  # advances the seed so repeated rounds get fresh rewrites
        self._lock = threading.Lock()  # held for two statements, never across an await

    def messages(self, prompt: str, goal: Goal, n: int, feedback: Feedback | None = None) -> list[Message]:
        messages: list[Message] = [{"role": "system", "content": _SYSTEM}]
        for question, wishes, rewrites in _EXAMPLES:
            messages.append({"role": "user", "content": _request(question, wishes, len(rewrites))})
            messages.append({"role": "assistant", "content": "\n".join(f"{i}. {r}" for i, r in enumerate(rewrites, 1))})
        note = feedback.describe(goal) if feedback else ""
        messages.append({"role": "user", "content": _request(prompt.strip(), _wishes(goal), n, note)})
        return messages

    async def propose(self, prompt: str, goal: Goal, n: int, *, original: str | None = None,
                      feedback: Feedback | None = None, usage: Usage | None = None) -> list[str]:
        # The model rewrites the user's question; parents that are rewrites carry the goal already.
        messages = self.messages(original or prompt, goal, n, feedback)
        found: dict[str, str] = {}
        for _ in range(self.max_calls):
            with self._lock:
                seed = self.seed + self._calls
                self._calls += 1
            reply = await self.endpoint.chat(messages, usage=usage, temperature=self.temperature,
                                             max_tokens=self.max_tokens, seed=seed)
            for rewrite in parse_rewrites(reply.text):
                found.setdefault(rewrite.casefold(), rewrite)
            if len(found) >= n:
                break
        return list(found.values())[:n]


def optimizer_from_prompts(prompts: Sequence[str]) -> PromptOptimizer:
    """An optimizer that proposes fixed prompts: for tests and for replaying logged candidates."""

    class _Fixed(PromptOptimizer):
        async def propose(self, prompt: str, goal: Goal, n: int, *, original: str | None = None,
                          feedback: Feedback | None = None, usage: Usage | None = None) -> list[str]:
            if usage is not None:
                usage.record_call("optimizer")
            return list(prompts)[:n]

    return _Fixed()
