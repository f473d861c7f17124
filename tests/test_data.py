"""Loaders: real shared data where it is, and files the tests write in each schema."""

import json
from pathlib import Path

import pytest

from hia.data import (
    DataError,
    load_compred,
    load_compred_prompts,
    load_helpsteer,
    load_helpsteer_pairs,
    load_stackexchange_pairs,
)
from hia.data.stackexchange import community_of, html_to_text

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present")


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def helpsteer_row(**over):
    row = {"prompt": "Why?", "response": "Because.", "helpfulness": 3, "correctness": 4, "coherence": 4,
           "complexity": 1, "verbosity": 0}
    row.update(over)
    return row


def compred_row(**over):
    row = {"domain": "history", "post_id": "p1", "title": "Why did Rome fall?", "history": "Asking for a class.",
           "c_root_id_A": "a", "c_root_id_B": "b", "created_at_utc_A": 1, "created_at_utc_B": 2,
           "score_A": 40, "score_B": 3, "human_ref_A": "Many causes: ...", "human_ref_B": "Lead pipes.",
           "labels": 1, "overlap_ratio": 0.1, "seconds_difference": 10, "score_ratio": 13.3, "len_ratio": 2.0}
    row.update(over)
    return row


@needs_shared
def test_shared_helpsteer_sample_loads_in_full():
    rows = load_helpsteer(SHARED / "helpsteer" / "helpsteer_v1_sample500.jsonl")
    assert len(rows) == 500 and not rows.skipped
    assert set(rows.rows[0].scores) == {"helpfulness", "correctness", "coherence", "complexity", "verbosity"}
    assert len(load_helpsteer_pairs(SHARED / "helpsteer" / "helpsteer2_pairs849.jsonl")) == 849


@needs_shared
def test_stackexchange_sample_becomes_community_pairs():
    pairs = load_stackexchange_pairs(SHARED / "stackexchange" / "se_preferences_3dprinting_sample500.jsonl")
    assert {p.community for p in pairs} == {"3dprinting", "3dprinting.meta"}
    assert all(p.chosen_score > p.rejected_score for p in pairs)
    assert not any("<p>" in p.prompt or "<p>" in p.chosen for p in pairs)


def test_malformed_helpsteer_row_names_file_line_and_problem(tmp_path):
    path = write_jsonl(tmp_path / "h.jsonl", [helpsteer_row(), helpsteer_row(verbosity=7), "{not json", helpsteer_row(response="")])
    with pytest.raises(DataError, match=r"h\.jsonl:2: field 'verbosity' is 7, outside 0\.\.4"):
        load_helpsteer(path)
    loaded = load_helpsteer(path, skip_invalid=True)
    assert len(loaded) == 1 and len(loaded.skipped) == 3
    assert "h.jsonl:3: not valid JSON" in loaded.skipped[1] and "'response' is empty" in loaded.skipped[2]


def test_helpsteer_from_json_list(tmp_path):
    path = tmp_path / "h.json"
    path.write_text(json.dumps([helpsteer_row(), helpsteer_row(prompt="How?")]))
    assert [r.prompt for r in load_helpsteer(path)] == ["Why?", "How?"]


def test_compred_schema_pairs_follow_the_label(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [compred_row(), compred_row(post_id="p2", labels=0)])
    first, second = load_compred(path).rows
    assert first.chosen == "Many causes: ..." and first.chosen_score == 40 and first.community == "history"
    assert second.chosen == "Lead pipes." and second.rejected_score == 40
    assert first.prompt == "Why did Rome fall?\n\nAsking for a class."


@pytest.mark.parametrize("bad, message", [
    ({"labels": 2}, "'labels' must be 0 or 1"),
    ({"human_ref_B": None}, "'human_ref_B' is missing"),
    ({"score_A": "many"}, "'score_A' is missing or not a number"),
    ({"title": ""}, "'title' is empty"),
])
def test_compred_bad_rows(tmp_path, bad, message):
    path = write_jsonl(tmp_path / "c.jsonl", [compred_row(**bad)])
    with pytest.raises(DataError, match=message):
        load_compred(path)


def test_compred_test_prompts_schema(tmp_path):
    row = {"rank": 1, "only_comment": False, "domain": "science", "post_id": "s1", "title": "Why is ice slippery?",
           "history": "", "c_root_id": "c", "created_at_utc": 5, "score": 12, "human_ref": "A thin liquid layer."}
    [prompt] = load_compred_prompts(write_jsonl(tmp_path / "t.jsonl", [row])).rows
    assert (prompt.prompt, prompt.community, prompt.score) == ("Why is ice slippery?", "science", 12.0)


def test_unknown_subset_and_missing_file():
    with pytest.raises(DataError, match="unknown ComPRed subset"):
        load_compred("allenai/compred", subset="cooking")
    with pytest.raises(DataError, match="no such file"):
        load_helpsteer("missing/file.jsonl")


def test_html_and_community_helpers():
    assert html_to_text("<p>Use &amp; enjoy</p><ul><li>one</li><li>two</li></ul>") == "Use & enjoy\none\ntwo"
    assert community_of(["https://3dprinting.meta.stackexchange.com/questions/1"]) == "3dprinting.meta"
