"""A zero-shot heuristic reward model: what a prompt asks for, read from its words.

- A prompt that quotes an attribute's rubric for one level (as every template rewrite does) asks
  for that level; the prediction is the middle of the range moved `rubric_compliance` of the way
  to it. A prompt that states a target as the goal-conditioned prompt does ("verbosity 1 of 4")
  is moved `stated_compliance` of the way. That a policy follows a spelled-out level more closely
  than a restated goal is the assumption here, made before any measurement; a LearnedHeuristic
  replaces it with what the policy really does.
- Otherwise, for each attribute it embeds a few prompts that ask for a high score and a few that
  ask for a low one, and moves the prediction from the middle of the range toward the side whose
  anchors the prompt resembles more; explicit cues in the prompt ("in one sentence", "step by
  step, in detail") push further. That is good only at the direction of an effect.
It is untrained and cheap; the trained heuristics come with the reward models.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from hia import _defaults as D
from hia.core.attributes import get_attribute, requested_levels, stated_targets
from hia.models.embeddings import Embedder, shared_embedder
from hia.rewards.base import HeuristicRewardModel

ANCHORS: dict[str, tuple[list[str], list[str]]] = {
    # attribute: (prompts asking for a high score, prompts asking for a low score)
    "helpfulness": (
        ["Answer the question fully and usefully, covering everything I need to know.",
         "Give a complete, practical and accurate answer to my request."],
        ["Reply with anything, it does not matter if it answers the question.",
         "Say something vague and unrelated."],
    ),
    "correctness": (
        ["Answer accurately and include every relevant fact; double-check each claim.",
         "Give a precise, factually correct and complete answer."],
        ["Make something up, facts do not matter.",
         "Guess wildly without checking anything."],
    ),
    "coherence": (
        ["Answer clearly, in a well organised and consistent way.",
         "Write a clear, logically structured answer."],
        ["Answer in a rambling, jumbled and contradictory way.",
         "Write disorganised fragments with no structure."],
    ),
    "complexity": (
        ["Answer as an expert would, with technical vocabulary and in-depth analysis.",
         "Explain with advanced, specialist terminology and deep technical detail."],
        ["Explain it in simple words a child could understand.",
         "Use plain, everyday language with no jargon."],
    ),
    "verbosity": (
        ["Write a long, detailed, exhaustive answer over many paragraphs with examples.",
         "Explain thoroughly, step by step, in depth, covering every aspect at length."],
        ["Answer in one short sentence.",
         "Be brief and concise: just a few words."],
    ),
}

CUES: dict[str, tuple[str, str]] = {
    # attribute: (regex of cues for a high score, regex of cues for a low score)
    "verbosity": (
        r"\b(detailed|in detail|thorough(ly)?|exhaustive|comprehensive|in depth|in-depth|step[- ]by[- ]step|"
        r"paragraphs|at length|complete guide|elaborate)\b",
        r"\b(one|a single|two|1|2) (short )?(sentence|sentences|line|lines|words?)\b|\b(brief(ly)?|concise(ly)?|"
        r"short|succinct|in a few words|tl;?dr|one[- ]liner)\b",
    ),
    "complexity": (
        r"\b(expert|technical|advanced|specialist|in-depth|rigorous|academic|jargon)\b",
        r"\b(simple|plain|child|kid|beginner|everyday|easy) (words|language|terms)?\b|\bno jargon\b|\bELI5\b",
    ),
}


_CUE_PATTERNS = {name: (re.compile(high, re.IGNORECASE), re.compile(low, re.IGNORECASE)) for name, (high, low) in CUES.items()}


class ZeroShotHeuristic(HeuristicRewardModel):
    """Predicts attribute scores of the answer a prompt will get, from the prompt's embedding."""

    def __init__(self, embedder: Embedder | None = None, *, gain: float = D.HEURISTIC_ANCHOR_GAIN,
                 cue_step: float = D.HEURISTIC_CUE_STEP, rubric_compliance: float = D.HEURISTIC_RUBRIC_COMPLIANCE,
                 stated_compliance: float = D.HEURISTIC_STATED_COMPLIANCE) -> None:
        self.embedder = embedder or shared_embedder()
        self.gain = gain  # how far a unit of anchor-similarity difference moves the prediction
        self.cue_step = cue_step  # fraction of the half-range one matching cue adds
        self.rubric_compliance = rubric_compliance  # share of the way to a quoted rubric level the answer goes
        self.stated_compliance = stated_compliance  # share of the way to a target stated as a number
        self._directions: dict[str, np.ndarray] = {}

    def _direction(self, attribute: str) -> np.ndarray:
        if attribute not in self._directions:
            high, low = ANCHORS.get(attribute, ([get_attribute(attribute).high_means], [get_attribute(attribute).low_means]))
            vectors = self.embedder.embed(list(high) + list(low))
            self._directions[attribute] = vectors[: len(high)].mean(0) - vectors[len(high):].mean(0)
        return self._directions[attribute]

    def predict(self, prompts: Sequence[str], attributes: Sequence[str]) -> np.ndarray:
        # A quoted rubric level or a stated target decides an attribute outright, so only prompts
        # left with an attribute neither decides are embedded: template rewrites and the root
        # cost no embedding at all.
        decided = [{**{a: ("stated", v) for a, v in stated_targets(p, attributes).items()},
                    **{a: ("quoted", v) for a, v in requested_levels(p, attributes).items()}} for p in prompts]
        open_rows = [i for i, d in enumerate(decided) if any(a not in d for a in attributes)]
        embeddings = self.embedder.embed([prompts[i] for i in open_rows]) if open_rows else None
        out = np.empty((len(prompts), len(attributes)))
        for j, name in enumerate(attributes):
            attribute = get_attribute(name)
            mid, half = (attribute.low + attribute.high) / 2, (attribute.high - attribute.low) / 2
            for i, d in enumerate(decided):
                if name in d:
                    how, level = d[name]
                    out[i, j] = mid + (self.rubric_compliance if how == "quoted" else self.stated_compliance) * (level - mid)
            undecided = [k for k, i in enumerate(open_rows) if name not in decided[i]]
            if not undecided:
                continue
            assert embeddings is not None
            rows = [open_rows[k] for k in undecided]
            signal = np.tanh(self.gain * (embeddings[undecided] @ self._direction(name)))
            if name in _CUE_PATTERNS:
                high_cue, low_cue = _CUE_PATTERNS[name]
                signal = signal + self.cue_step * np.array(
                    [len(high_cue.findall(prompts[i])) - len(low_cue.findall(prompts[i])) for i in rows], dtype=float)
            out[rows, j] = np.clip(mid + half * signal, attribute.low, attribute.high)
        return out
