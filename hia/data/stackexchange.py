"""Stack Exchange preference data (HuggingFaceH4/stack-exchange-preferences) as community pairs.

Each question has answers with a vote-derived `pm_score`; every two answers with different
scores make a pair (the higher-scored one chosen), as in Stanford SHP and ComPRed. The community
is the site (e.g. `3dprinting`, `3dprinting.meta`). HTML is reduced to text.
"""

from __future__ import annotations

import html
import itertools
import re
from pathlib import Path
from urllib.parse import urlsplit

from hia.data._records import Loaded, collect, number_field, read_local, text_field
from hia.data.types import PreferencePair
from hia.errors import DataError


def html_to_text(text: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</p>|</li>|</h\d>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text)
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+", " ", text)).strip()


def community_of(metadata: object) -> str:
    """'3dprinting.meta' from ['https://3dprinting.meta.stackexchange.com/questions/1', ...]."""
    urls = metadata if isinstance(metadata, list) else [metadata]
    for url in urls:
        host = urlsplit(str(url)).hostname or ""
        if host.endswith(".stackexchange.com"):
            return host[: -len(".stackexchange.com")]
        if host:
            return host.split(".")[0]
    return "unknown"


def _pairs(where: str, record: dict) -> list[PreferencePair]:
    question = html_to_text(text_field(where, record, "question"))
    answers = record.get("answers")
    if not isinstance(answers, list):
        raise DataError(f"{where}: field 'answers' must be a list")
    scored = []
    for i, answer in enumerate(answers):
        if not isinstance(answer, dict):
            raise DataError(f"{where}: answer {i} is not an object")
        scored.append((number_field(f"{where} answer {i}", answer, "pm_score"),
                       html_to_text(text_field(f"{where} answer {i}", answer, "text"))))
    community = community_of(record.get("metadata"))
    pairs = []
    for (score_a, a), (score_b, b) in itertools.combinations(scored, 2):
        if score_a == score_b:
            continue
        (cs, c), (rs, r) = ((score_a, a), (score_b, b)) if score_a > score_b else ((score_b, b), (score_a, a))
        pairs.append(PreferencePair(prompt=question, chosen=c, rejected=r, community=community,
                                    chosen_score=cs, rejected_score=rs, source_id=str(record.get("qid", where))))
    return pairs


def load_stackexchange_pairs(source: str | Path, *, skip_invalid: bool = False) -> Loaded[PreferencePair]:
    return collect(read_local(source), _pairs, str(source), skip_invalid)
