"""HelpSteer and HelpSteer2: responses rated 0-4 on five attributes, and chosen/rejected pairs."""

from __future__ import annotations

from pathlib import Path

from hia.core.attributes import HELPSTEER_ATTRIBUTES
from hia.data._records import Loaded, collect, is_local, number_field, read_hub, read_local, text_field
from hia.data.types import PreferencePair, RatedResponse

ATTRIBUTES = tuple(a.name for a in HELPSTEER_ATTRIBUTES)


def _rated(where: str, record: dict) -> RatedResponse:
    return RatedResponse(
        prompt=text_field(where, record, "prompt"),
        response=text_field(where, record, "response"),
        scores={a: number_field(where, record, a, 0, 4) for a in ATTRIBUTES},
    )


def load_helpsteer(source: str | Path = "nvidia/HelpSteer", *, split: str = "train",
                   skip_invalid: bool = False) -> Loaded[RatedResponse]:
    """Rated responses from a local .jsonl/.json/.parquet file or a hub dataset id.

    Works for `nvidia/HelpSteer` and `nvidia/HelpSteer2` (same fields). A malformed row raises
    DataError naming the file, line and problem, or, with skip_invalid=True, is skipped and noted.
    """
    records = read_local(source) if is_local(source) else read_hub(str(source), None, split)
    return collect(records, _rated, str(source), skip_invalid)


def _pair(where: str, record: dict) -> PreferencePair:
    return PreferencePair(prompt=text_field(where, record, "prompt"), chosen=text_field(where, record, "chosen"),
                          rejected=text_field(where, record, "rejected"), community="helpsteer2", source_id=where)


def load_helpsteer_pairs(source: str | Path, *, skip_invalid: bool = False) -> Loaded[PreferencePair]:
    """Chosen/rejected pairs (prompt, chosen, rejected) from a local file."""
    return collect(read_local(source), _pair, str(source), skip_invalid)
