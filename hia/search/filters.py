"""HIA's two filters, which decide which candidate prompts are worth a policy call.

A candidate is read as two parts: the *question part* (the user's question, kept or reworded)
and the *instructions* it adds about the answer (length, wording, ...). See `split_prompt`.

Stage 1 is cheap and uses no reward model. It drops, in this order, a candidate that is
- empty (shorter than a few characters),
- an answer rather than a prompt: it opens like a reply ("Sure, ...", "Here is ..."), its
  question part is far longer than the user's prompt, or it asks nothing (no question mark, no
  request word),
- drifted: the cosine similarity of its question part's embedding to the user's prompt is below
  a threshold (so added instructions are not mistaken for drift, and a changed question is caught),
- a near-duplicate of an earlier candidate or of a prompt already evaluated: the same text up to
  case and spaces, or, with the same question, instructions whose embeddings have a cosine at or
  above a threshold.
The root (the user's prompt with the goal stated) is never dropped: it is the user's own question.

Stage 2 predicts with the heuristic reward model the scores each survivor's answer will get,
corrected by how far this alignment's answers so far missed their predictions, ranks survivors
by the objective R(G, r_hat) and keeps the top K, K being what the round may spend.
The root, when it has not been answered yet, is ranked with the rewrites (after them on a tie).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hia import _defaults as D
from hia.core.goal import Goal
from hia.core.objectives import Objective
from hia.core.results import Candidate
from hia.models.embeddings import Embedder
from hia.rewards.base import HeuristicRewardModel, check_scores


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


@functools.lru_cache(maxsize=D.TEXT_CACHE_SIZE)  # the same prompts are compared many times a round
def normal_text(text: str) -> str:
    """Text compared up to case and spacing."""
    return re.sub(r"\s+", " ", text).strip().casefold()


# A sentence that tells the policy how to answer rather than what to answer: no question mark, and
# either an "Aspect:" label or a word about the answer's form.
_FORM_WORD = re.compile(
    r"\b(length|wording|style|tone|format|sentences?|words?|paragraphs?|bullet|jargon|vocabulary|reading grade|"
    r"grade|level|detail(?:ed|s)?|thorough(?:ly)?|brief(?:ly)?|concise(?:ly)?|short|long|simple|plain|technical|"
    r"expert|child|kid|beginner|requirements?|rules?|description|answer|reply|response|respond)\b",
    re.I,
)
_SENTENCE = re.compile(r"(?<=[.!?:])\s+|\n+")


def split_prompt(candidate: str, question: str) -> tuple[str, str]:
    """(question part, instructions) of a candidate prompt.

    If the candidate contains the user's question word for word, that is its question part and
    the rest is instructions. Otherwise sentences without a question mark that speak about the
    answer's form are instructions and the rest is the question part; a candidate with nothing
    else left is all question part (its instructions and question are one sentence)."""
    text, asked = normal_text(candidate), normal_text(question)
    if asked and asked in text:
        return question.strip(), normal_text(text.replace(asked, " "))
    sentences = [s.strip() for s in _SENTENCE.split(candidate) if s.strip()]
    kept = [s for s in sentences if "?" in s or not _FORM_WORD.search(s)]
    if not kept:
        return candidate.strip(), ""
    instructions = [s for s in sentences if s not in kept]
    return " ".join(kept), " ".join(instructions)


def answer_reason(candidate: str, original: str, settings: FilterSettings, question_part: str | None = None) -> str | None:
    """Why `candidate` looks like an answer instead of a prompt, or None if it asks."""
    if _ANSWER_OPENER.match(candidate):
        return "answers instead of asking: opens like a reply"
    words, original_words = len((question_part or candidate).split()), max(1, len(original.split()))
    if words > settings.answer_length_ratio * original_words and words - original_words >= settings.answer_min_extra_words:
        return f"answers instead of asking: {words} words against the prompt's {original_words}"
    if not _REQUEST_WORD.search(candidate):
        return "answers instead of asking: no question or request in it"
    return None


def stage1(candidates: Sequence[Candidate], original: str, embedder: Embedder,
           earlier: Sequence[str] = (), settings: FilterSettings = FilterSettings(),
           root: Candidate | None = None) -> list[Candidate]:
    """Mark stage-1 drops on `candidates` (in place) and return the survivors, in order.

    `earlier` holds prompts already evaluated, which a new candidate must not repeat. `root`, if
    it is among the candidates, skips the checks but still counts for duplicates."""
    alive = []
    parts: dict[int, tuple[str, str]] = {}
    for c in candidates:
        parts[c.id] = split_prompt(c.prompt, original)
        if c is root:
            alive.append(c)
        elif len(c.prompt.strip()) < settings.min_chars:
            c.drop("stage1", "empty")
        elif (why := answer_reason(c.prompt, original, settings, parts[c.id][0])) is not None:
            c.drop("stage1", why)
        else:
            alive.append(c)
    if not alive:
        return []
    # A rewrite is compared with the others part by part: the same question (reworded or not) and
    # near-identical instructions make a near-duplicate. Comparing whole texts would make every
    # pair that keeps a long question look alike.
    earlier_parts = [split_prompt(p, original) for p in earlier]
    n, m = len(alive), len(earlier)
    question_texts = [*(parts[c.id][0] for c in alive), *(q for q, _ in earlier_parts)]
    # A question part that is the user's question word for word (split_prompt returns it as
    # given) has similarity 1 to it and needs no embedding; when every part is, nor does the
    # question itself, and one placeholder vector stands for all of them.
    asked = original.strip()
    reworded = list(dict.fromkeys(t for t in question_texts if t != asked))
    vectors = embedder.embed([*([original, *reworded] if reworded else []),
                              *(parts[c.id][1] for c in alive), *(i for _, i in earlier_parts)])
    origin = vectors[0] if reworded else np.ones(1)
    by_text = dict(zip(reworded, vectors[1:1 + len(reworded)]))
    question_vectors = np.array([by_text.get(t, origin) for t in question_texts]).reshape(n + m, -1)
    instruction_vectors = vectors[1 + len(reworded):] if reworded else vectors
    questions, earlier_questions = question_vectors[:n], question_vectors[n:]
    instructions, earlier_instructions = instruction_vectors[:n], instruction_vectors[n:]

    # Similarities of every pair at once, in two products: a search compares each candidate with
    # all kept before it and all evaluated ones, and one small product per pair was this stage's largest cost.
    def alike(q: np.ndarray, i: np.ndarray, other_q: np.ndarray, other_i: np.ndarray) -> np.ndarray:
        return np.minimum(q @ other_q.T, i @ other_i.T) >= settings.duplicate_similarity

    twins = alike(questions, instructions, questions, instructions)
    repeats = alike(questions, instructions, earlier_questions, earlier_instructions).any(axis=1) if m \
        else np.zeros(n, dtype=bool)
    seen_text = {normal_text(p) for p in earlier}
    text_of = [normal_text(c.prompt) for c in alive]
    kept: list[int] = []
    for j, (c, q) in enumerate(zip(alive, questions)):
        c.similarity = round(float(q @ origin), 4)
        if c is not root and c.similarity < settings.drift_similarity:
            c.drop("stage1", f"drift: similarity {c.similarity:.2f} of its question to the prompt < {settings.drift_similarity:.2f}")
            continue
        if c is not root and (text_of[j] in seen_text or repeats[j]):
            c.drop("stage1", "duplicate of a prompt already evaluated")
            continue
        twin = next((k for k in kept if text_of[k] == text_of[j] or twins[j, k]), None)
        if twin is not None and c is not root:
            c.drop("stage1", f"near-duplicate of candidate #{alive[twin].id}")
            continue
        c.keep()
        kept.append(j)
    return [alive[j] for j in kept]


def residual_offsets(answered: Sequence[Candidate], attributes: Sequence[str]) -> dict[str, float]:
    """Per attribute, the mean miss (reference score minus predicted score) of the candidates
    answered so far in this alignment that had a prediction.

    One question pushes a policy the same way whatever the prompt's wording (longer than asked,
    say), so the answers already paid for correct the predictions for the next ones."""
    offsets = {}
    for name in attributes:
        misses = [c.evaluation.scores[name] - c.heuristic_scores[name] for c in answered
                  if c.evaluation is not None and name in c.evaluation.scores
                  and c.heuristic_scores is not None and name in c.heuristic_scores]
        if misses:
            offsets[name] = float(np.mean(misses))
    return offsets


def tie_key(text: str) -> str:
    """The last word on a tie: a hash of the prompt's text, so neither the order candidates were
    made in nor their position in the pool ever decides."""
    return hashlib.sha256(text.encode()).hexdigest()


def stage2(candidates: Sequence[Candidate], goal: Goal, heuristic: HeuristicRewardModel,
           objective: Objective, keep: int, *, question: str, offsets: dict[str, float] | None = None,
           observed: dict[str, list[dict[str, float]]] | None = None) -> list[Candidate]:
    """Score `candidates` with the heuristic (plus `offsets`, see residual_offsets), keep the best
    `keep` by R(G, r_hat), mark the rest.

    A resample (a prompt already answered, asked again with a new seed) is predicted by what its
    earlier answers scored (`observed`, by prompt text), with the noise of one answer shrunk by
    their number as its uncertainty. The ranking: predicted reward first; on equal predicted
    reward, the more uncertain prediction first (a call there teaches the heuristic most); then a
    hash of the prompt's text (`tie_key`)."""
    if not candidates:
        return []
    attributes = goal.attributes
    fresh = [c for c in candidates if c.source != "resample"]
    prompts = [c.prompt for c in fresh]
    predicted, spread = heuristic.predict_with_spread(question, prompts, attributes) if fresh else (None, None)
    predicted = check_scores(predicted, len(fresh), attributes, heuristic) if fresh else np.zeros((0, len(attributes)))
    spreads = np.zeros_like(predicted) if spread is None else check_scores(spread, len(fresh), attributes, heuristic)
    if offsets:
        predicted = predicted + np.array([offsets.get(a, 0.0) for a in attributes])
    uncertainty: dict[int, float] = {}
    for c, row, sd in zip(fresh, predicted, spreads):
        c.heuristic_scores = {a: round(float(v), 4) for a, v in zip(attributes, row)}
        uncertainty[c.id] = float(np.sqrt(np.sum(sd ** 2)))
    for c in candidates:
        if c.source == "resample":
            seen = (observed or {}).get(c.prompt) or []
            c.heuristic_scores = {a: round(float(np.mean([s[a] for s in seen if a in s] or [np.nan])), 4)
                                  for a in attributes}
            uncertainty[c.id] = D.HEURISTIC_NOISE_SD * np.sqrt(len(attributes) / max(len(seen), 1))
    for c in candidates:
        assert c.heuristic_scores is not None
        known = all(np.isfinite(v) for v in c.heuristic_scores.values())
        c.heuristic_reward = round(objective(c.heuristic_scores, goal), 4) if known else None
    ranked = sorted(candidates, key=lambda c: (-(c.heuristic_reward if c.heuristic_reward is not None else -np.inf),
                                               -round(uncertainty[c.id], 6), tie_key(c.prompt)))
    for rank, c in enumerate(ranked[keep:], start=keep + 1):
        c.drop("stage2", f"heuristic rank {rank} of {len(ranked)}; the round pays for the top {keep}")
    return ranked[:keep]
