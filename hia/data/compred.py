"""ComPRed (allenai/compred): Reddit answers with community-level preferences.

Preference rows (splits train_pref, validation_pref, test_pref) hold two comments A and B on one
post and `labels` (1 when A is preferred). Test-prompt rows (config `<subset>_test_prompts`,
split `test_prompts`) hold one comment with its score.
"""

from __future__ import annotations

from pathlib import Path

from hia.data._records import Loaded, collect, is_local, number_field, read_hub, read_local, text_field
from hia.data.types import CommunityPrompt, PreferencePair
from hia.errors import DataError

SUBSETS = ("finance", "gender_sexuality", "history", "politics", "science")


def post_text(where: str, record: dict) -> str:
    title = text_field(where, record, "title")
    body = record.get("history") or ""
    if not isinstance(body, str):
        raise DataError(f"{where}: field 'history' is not text")
    return f"{title}\n\n{body}".strip()


def _pair(where: str, record: dict) -> PreferencePair:
    label = record.get("labels")
    if label not in (0, 1) or isinstance(label, bool):
        raise DataError(f"{where}: field 'labels' must be 0 or 1 (1 = A preferred), got {label!r}")
    a, b = text_field(where, record, "human_ref_A"), text_field(where, record, "human_ref_B")
    score_a, score_b = number_field(where, record, "score_A"), number_field(where, record, "score_B")
    domain = text_field(where, record, "domain")
    chosen, rejected = (a, b) if label == 1 else (b, a)
    chosen_score, rejected_score = (score_a, score_b) if label == 1 else (score_b, score_a)
    return PreferencePair(prompt=post_text(where, record), chosen=chosen, rejected=rejected, community=domain,
                          chosen_score=chosen_score, rejected_score=rejected_score,
                          source_id=str(record.get("post_id", where)))


def _prompt(where: str, record: dict) -> CommunityPrompt:
    return CommunityPrompt(prompt=post_text(where, record), community=text_field(where, record, "domain"),
                           answer=text_field(where, record, "human_ref"), score=number_field(where, record, "score"),
                           source_id=str(record.get("post_id", where)))


def load_compred(source: str | Path = "allenai/compred", *, subset: str = "history", split: str = "train_pref",
                 skip_invalid: bool = False) -> Loaded[PreferencePair]:
    """Preference pairs from a local ComPRed-schema file or the hub (by subset and split)."""
    if is_local(source):
        records = read_local(source)
    else:
        if subset not in SUBSETS:
            raise DataError(f"unknown ComPRed subset {subset!r}; choose one of {', '.join(SUBSETS)}")
        records = read_hub(str(source), subset, split)
    return collect(records, _pair, str(source), skip_invalid)


def load_compred_prompts(source: str | Path = "allenai/compred", *, subset: str = "history",
                         skip_invalid: bool = False) -> Loaded[CommunityPrompt]:
    """Test prompts (config `<subset>_test_prompts`, split `test_prompts`) or a local file of them."""
    records = read_local(source) if is_local(source) else read_hub(str(source), f"{subset}_test_prompts", "test_prompts")
    return collect(records, _prompt, str(source), skip_invalid)
