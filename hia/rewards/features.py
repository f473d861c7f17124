"""Plain text statistics: cheap features that carry most of the signal for length and style."""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

FEATURE_NAMES = (
    "log_words", "log_chars", "sentences", "words_per_sentence", "chars_per_word", "syllables_per_word",
    "flesch_reading_ease", "long_word_share", "lines", "list_items", "digits_share", "question_marks",
    "refusal", "log_prompt_words", "length_ratio",
)
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
_REFUSAL = re.compile(r"\b(i'?m sorry|i cannot|i can'?t|as an ai|i am unable|i'm unable)\b", re.IGNORECASE)


def _syllables(word: str) -> int:
    groups = re.findall(r"[aeiouy]+", word.lower())
    count = len(groups) - (1 if word.lower().endswith("e") and len(groups) > 1 else 0)
    return max(1, count)


def text_stats(response: str, prompt: str = "") -> np.ndarray:
    words = re.findall(r"[A-Za-z0-9']+", response)
    n_words = len(words)
    n_sentences = max(1, len(_SENTENCE_END.findall(response)))
    syllables = sum(_syllables(w) for w in words) if words else 0
    words_per_sentence = n_words / n_sentences
    syllables_per_word = syllables / n_words if n_words else 0.0
    prompt_words = len(prompt.split())
    return np.array([
        math.log1p(n_words),
        math.log1p(len(response)),
        math.log1p(n_sentences),
        words_per_sentence,
        (sum(len(w) for w in words) / n_words) if n_words else 0.0,
        syllables_per_word,
        # Flesch reading ease, clipped: it runs off to large values on odd text
        float(np.clip(206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word, -100, 130)) / 100,
        (sum(len(w) >= 7 for w in words) / n_words) if n_words else 0.0,
        math.log1p(response.count("\n")),
        math.log1p(len(_LIST_ITEM.findall(response))),
        sum(ch.isdigit() for ch in response) / max(1, len(response)),
        math.log1p(response.count("?")),
        1.0 if _REFUSAL.search(response[:200]) else 0.0,
        math.log1p(prompt_words),
        math.log1p(n_words) - math.log1p(prompt_words),
    ], dtype=float)


def text_stats_matrix(responses: Sequence[str], prompts: Sequence[str] | None = None) -> np.ndarray:
    prompts = prompts if prompts is not None else [""] * len(responses)
    return np.stack([text_stats(r, p) for r, p in zip(responses, prompts)]) if len(responses) else np.zeros((0, len(FEATURE_NAMES)))
