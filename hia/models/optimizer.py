"""Prompt optimizers: turn the user's prompt into candidate prompts that steer toward the goal.

A good rewrite keeps the user's question and adds instructions that make the answer reach the
goal. The instructions come from the attributes' rubrics: what the target level concretely looks
like ("Length: two or three sentences (about 20 to 60 words)"), which a policy follows far more
reliably than the goal restated as numbers.

- `TemplateOptimizer` needs no model: it writes the question followed by the rubric of each
  target level, in several phrasings. Told how the last answer scored, it corrects the level it
  asks for by the measured miss (see `aimed_levels`).
- `LLMOptimizer` asks a cheap chat model on its own endpoint for numbered rewrites. The request
  carries the rubric of the target levels and worked examples as earlier chat turns, which small
  models follow far better than examples pasted into one message.
"""

from __future__ import annotations

import itertools
import re
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from hia import _defaults as D
from hia.core.attributes import get_attribute, requested_levels
from hia.core.goal import Goal
from hia.core.usage import Usage
from hia.models.chat import AsyncChatEndpoint, Message


@dataclass(frozen=True)
class Feedback:
    """How the answer to the prompt being rewritten scored, so the next rewrite can correct it."""

    scores: dict[str, float]
    prompt: str | None = None  # the prompt that drew that answer

    def misses(self, goal: Goal) -> dict[str, float]:
        """Score minus target, for each attribute that missed its target by more than the tolerance."""
        return {name: self.scores[name] - target for name, target in goal.targets.items()
                if name in self.scores and abs(self.scores[name] - target) > goal.tolerance}

    def describe(self, goal: Goal) -> str:
        notes = []
        for name, miss in self.misses(goal).items():
            direction = "less" if miss > 0 else "more"
            notes.append(f"{name} was {self.scores[name]:.1f}, wanted {goal.targets[name]:g}: ask for {direction} {name}")
        return "; ".join(notes)


def goal_instruction(goal: Goal) -> str:
    """The goal as an instruction appended to a prompt (the goal-conditioned prompt)."""
    return f"Write your answer so that it has: {goal.describe()}."


def goal_conditioned_prompt(prompt: str, goal: Goal) -> str:
    """The user's prompt with the goal stated plainly: the root of every search, and what best-of-N samples."""
    return f"{prompt.rstrip()}\n\n{goal_instruction(goal)}"


def rubric_instructions(levels: dict[str, float], goal: Goal) -> list[str]:
    """One instruction per attribute: its label and the rubric of the level asked for (attributes
    without a rubric get the goal's plain description)."""
    out = []
    for name in goal.targets:
        attribute = get_attribute(name)
        rubric = attribute.rubric(levels[name])
        out.append(f"{attribute.label}: {rubric}." if rubric else f"{attribute.label}: {attribute.describe(levels[name])}.")
    return out


def aimed_levels(goal: Goal, feedback: Feedback | None) -> list[dict[str, float]]:
    """The levels to ask for, most promising first.

    Without feedback: each target's own level, then, one attribute at a time, the levels beside
    it (a policy that writes longer than asked lands on the target when asked for one level
    less). The heuristic chooses among them by what it predicts each draws from this policy for
    this question. With feedback, each attribute is asked for its
    target minus the policy's measured bias (the answer's score minus the level its prompt asked
    for), and, as a milder alternative, for half that correction, both rounded to a level. An
    attribute that missed by more than the tolerance never gets the level that missed again (if
    rounding undid the correction, it moves one level the right way); one within the tolerance
    may keep it. So a policy that wrote at level 2.8 when asked for 2, with a target of 2, is next
    asked for level 1. The heuristic then chooses among the combinations."""
    targets = dict(goal.targets)
    if feedback is None or not any(name in feedback.scores for name in targets):
        return [targets, *neighbour_aims(targets)]
    asked = requested_levels(feedback.prompt or "", list(targets))
    missed = feedback.misses(goal)
    options: dict[str, list[float]] = {}
    for name, target in targets.items():
        attribute = get_attribute(name)
        before = float(asked.get(name, attribute.level(target)))
        if name not in feedback.scores:
            options[name] = [before]
            continue
        bias = feedback.scores[name] - before
        levels: list[float] = []
        for aim in (target - bias, target - bias / 2):
            level = float(attribute.level(min(attribute.high, max(attribute.low, aim))))
            if level == before and name in missed:  # rounding undid the correction: move one level the right way
                level = min(attribute.high, max(attribute.low, before - (1 if bias > 0 else -1)))
            if level not in levels:
                levels.append(level)
        options[name] = levels
    names = list(options)
    return [dict(zip(names, combo)) for combo in itertools.product(*(options[n] for n in names))]


def neighbour_aims(targets: dict[str, float]) -> list[dict[str, float]]:
    """The targets with one attribute moved a level down or up (within its scale)."""
    out = []
    for name, target in targets.items():
        attribute = get_attribute(name)
        level = float(attribute.level(target))
        for step in (-1.0, 1.0):
            if attribute.low <= level + step <= attribute.high:
                out.append({**targets, name: level + step})
    return out


class PromptOptimizer(ABC):
    """Proposes rewrites of a prompt toward a goal."""

    @abstractmethod
    async def propose(self, prompt: str, goal: Goal, n: int, *, original: str | None = None,
                      feedback: Feedback | None = None, usage: Usage | None = None) -> list[str]:
        """Up to `n` rewrites of `prompt`. `original` is the user's prompt when `prompt` is already a rewrite."""


class TemplateOptimizer(PromptOptimizer):
    """Rewrites without a model: the user's question, followed by the rubric of each aimed level.

    Candidates run through the aimed levels (see `aimed_levels`), each in the next phrasing, so
    the first few already differ in what they ask for and how they say it, and what the policy
    makes of each phrasing is learned as it answers. A rewrite of one of its own rewrites goes on
    with the phrasings after that one's, so later rounds do not repeat earlier ones. It keeps no
    state: the same request always gets the same rewrites.
    """

    FRAMES = (
        "{question}\n\nAnswer requirements. {rules}",
        "{question}\n\nWrite your answer to match this description. {rules}",
        "Follow these rules in your answer. {rules}\n\n{question}",
        "Question: {question}\n\nHow to answer. {rules}",
        "{question}\n\nImportant, for your answer: {rules}",
        "{question}\n\nKeep to this in your reply. {rules}",
    )

    def frame_of(self, prompt: str, question: str) -> int | None:
        """Which phrasing `prompt` was written in, if it is one of ours for `question`."""
        for i, frame in enumerate(self.FRAMES):
            head, _, tail = frame.format(question=question, rules="\0").partition("\0")
            if prompt.startswith(head) and prompt.endswith(tail):
                return i
        return None

    async def propose(self, prompt: str, goal: Goal, n: int, *, original: str | None = None,
                      feedback: Feedback | None = None, usage: Usage | None = None) -> list[str]:
        question = (original or prompt).strip()
        aims = aimed_levels(goal, feedback)
        parent_frame = self.frame_of(prompt, question)
        start = 0 if parent_frame is None else parent_frame + 1
        out = []
        for i in range(n):
            aim, frame = aims[i % len(aims)], self.FRAMES[(start + i) % len(self.FRAMES)]
            out.append(frame.format(question=question, rules=" ".join(rubric_instructions(aim, goal))))
        return out


def _goal_in_rubric_words(goal: Goal, feedback: Feedback | None = None) -> str:
    """What the answer should look like, for the LLM optimizer: the rubric of each aimed level."""
    return " ".join(rubric_instructions(aimed_levels(goal, feedback)[0], goal))


def _request(question: str, wishes: str, n: int, feedback: str = "") -> str:
    text = f"Question: {question}\nGoal for the answer: {wishes}\n"
    if feedback:
        text += f"The last answer missed the goal: {feedback}\n"
    return text + (f"Write {n} prompts, numbered. Each repeats the question word for word, then adds "
                   "instructions that make the answer meet the goal.")


# Worked examples, sent as earlier chat turns: the question kept word for word, instructions added
# ({goal} is the goal in the rubric's words, so the first rewrite shows copying it).
_EXAMPLES: tuple[tuple[str, dict[str, float], list[str]], ...] = (
    (
        "How do plants make food?",
        {"verbosity": 0, "complexity": 0},
        [
            "How do plants make food? {goal}",
            "How do plants make food? Reply with a few words or one short sentence. Use very simple words.",
            "How do plants make food? Keep it under 20 words and write for a six-year-old.",
        ],
    ),
    (
        "What is a good way to learn Python?",
        {"verbosity": 3, "complexity": 2},
        [
            "What is a good way to learn Python? {goal}",
            "What is a good way to learn Python? Answer in three or four paragraphs, using some specialised terms and explaining them.",
            "What is a good way to learn Python? Give a detailed answer of about 200 words that a high-school student can follow.",
        ],
    ),
)

_SYSTEM = (
    "You rewrite questions into prompts for an AI assistant. You never answer the question. "
    "You keep the question word for word and add instructions about the answer's length and style."
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
                 seed: int = D.OPTIMIZER_SEED, max_calls: int = D.OPTIMIZER_MAX_CALLS, client: Any = None,
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
        for question, targets, rewrites in _EXAMPLES:
            wishes = _goal_in_rubric_words(Goal(targets))
            messages.append({"role": "user", "content": _request(question, wishes, len(rewrites))})
            shown = [r.format(goal=wishes) for r in rewrites]
            messages.append({"role": "assistant", "content": "\n".join(f"{i}. {r}" for i, r in enumerate(shown, 1))})
        note = feedback.describe(goal) if feedback else ""
        messages.append({"role": "user", "content": _request(prompt.strip(), _goal_in_rubric_words(goal, feedback), n, note)})
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
