"""HIA's two filters, which decide which candidate prompts are worth a policy call.

Stage 1 is cheap and uses no reward model. It drops, in this order, a candidate that is
- empty (shorter than a few characters),
- an answer rather than a prompt: it opens like a reply ("Sure, ...", "Here is ..."), it is far
  longer than the user's prompt, or it asks nothing (no question mark, no request word),
- drifted: its embedding's cosine similarity to the user's prompt is below a threshold,
- a near-duplicate of an earlier candidate or of a prompt already evaluated (cosine at or above
  a threshold, or the same text up to case and spaces).

Stage 2 predicts with the heuristic reward model the scores each survivor's answer will get,
ranks survivors by the objective R(G, r_hat) and keeps the top K, K being what the round may spend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import _defaults as D
from .goal import Goal
from .objectives import Objective
from .rewards.base import HeuristicRewardModel, check_scores
from .rewards.embeddings import Embedder
from .types import Candidate


@dataclass(frozen=True)
class FilterSettings:
    duplicate_similarity: float = D.DUPLICATE_SIMILARITY
    drift_similarity: float = D.DRIFT_SIMILARITY
    min_chars: int = D.MIN_PROMPT_CHARS
    answer_length_ratio: float = D.ANSWER_LENGTH_RATIO
    answer_min_extra_words: int = D.ANSWER_MIN_EXTRA_WORDS


_ANSWER_OPENER = re.compile(r"^\s*(sure|certainly|of course|absolutely|here(?:['’]s| is| are)|great question)\b", re.I)
_REQUEST_WORD = re.compile(
    r"\?|\b(explain|describe|write|list|give|tell|summari[sz]e|provide|answer|compare|show|help|outline|define|"
    r"discuss|suggest|recommend|create|make|draft|please|how|what|why|which|who|when|where|should|can|could|"
    r"would|you|your|i want|i need)\b",
    re.I,
)


def normal_text(text: str) -> str:
    """Text compared up to case and spacing."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def answer_reason(candidate: str, original: str, settings: FilterSettings) -> str | None:
    """Why `candidate` looks like an answer instead of a prompt, or None if it asks."""
    if _ANSWER_OPENER.match(candidate):
        return "answers instead of asking: opens like a reply"
    words, original_words = len(candidate.split()), max(1, len(original.split()))
    if words > settings.answer_length_ratio * original_words and words - original_words >= settings.answer_min_extra_words:
        return f"answers instead of asking: {words} words against the prompt's {original_words}"
    if not _REQUEST_WORD.search(candidate):
        return "answers instead of asking: no question or request in it"
    return None


def stage1(candidates: Sequence[Candidate], original: str, embedder: Embedder,
           earlier: Sequence[str] = (), settings: FilterSettings = FilterSettings()) -> list[Candidate]:
    """Mark stage-1 drops on `candidates` (in place) and return the survivors, in order.

    `earlier` holds prompts already evaluated, which a new candidate must not repeat.
    """
    alive = []
    for c in candidates:
        if len(c.prompt.strip()) < settings.min_chars:
            c.drop("stage1", "empty")
        elif (why := answer_reason(c.prompt, original, settings)) is not None:
            c.drop("stage1", why)
        else:
            alive.append(c)
    if not alive:
        return []
    vectors = embedder.embed([original, *earlier, *(c.prompt for c in alive)])
    origin, previous, mine = vectors[0], vectors[1:1 + len(earlier)], vectors[1 + len(earlier):]
    seen_text = {normal_text(p) for p in earlier}
    kept: list[tuple[Candidate, np.ndarray]] = []
    for c, vector in zip(alive, mine):
        c.similarity = round(float(vector @ origin), 4)
        if c.similarity < settings.drift_similarity:
            c.drop("stage1", f"drift: similarity {c.similarity:.2f} to the prompt < {settings.drift_similarity:.2f}")
            continue
        if normal_text(c.prompt) in seen_text or (len(previous) and float((previous @ vector).max()) >= settings.duplicate_similarity):
            c.drop("stage1", "duplicate of a prompt already evaluated")
            continue
        twin = next((k for k, v in kept if float(v @ vector) >= settings.duplicate_similarity or normal_text(k.prompt) == normal_text(c.prompt)), None)
        if twin is not None:
            c.drop("stage1", f"near-duplicate of candidate #{twin.id}")
            continue
        c.status = "kept"
        kept.append((c, vector))
    return [c for c, _ in kept]


def stage2(candidates: Sequence[Candidate], goal: Goal, heuristic: HeuristicRewardModel,
           objective: Objective, keep: int, predicted: np.ndarray | None = None) -> list[Candidate]:
    """Score `candidates` with the heuristic, keep the best `keep` by R(G, r_hat), mark the rest."""
    if not candidates:
        return []
    attributes = goal.attributes
    if predicted is None:
        predicted = heuristic.predict([c.prompt for c in candidates], attributes)
    predicted = check_scores(predicted, len(candidates), attributes, heuristic)
    for c, row in zip(candidates, predicted):
        c.heuristic_scores = {a: round(float(v), 4) for a, v in zip(attributes, row)}
        c.heuristic_reward = round(objective(c.heuristic_scores, goal), 4)
    # Stable sort: ties keep the optimizer's order.
    ranked = sorted(candidates, key=lambda c: -(c.heuristic_reward or 0.0))
    for rank, c in enumerate(ranked[keep:], start=keep + 1):
        c.drop("stage2", f"heuristic rank {rank} of {len(ranked)}; the round pays for the top {keep}")
    return ranked[:keep]
