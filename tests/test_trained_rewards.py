"""The trained attribute model and the learned heuristic: outputs, files, corruption."""

import json
from pathlib import Path

import numpy as np
import pytest

from hia import RewardModelError
from hia.rewards.attribute_model import AttributeModel
from hia.rewards.composite import CompositeReference
from hia.rewards.learned import LearnedHeuristic
from hia.rewards.shipped import default_reference, packaged_reference_path
from hia.training.reference import train_reference

from .fakes import HashEmbedder, LengthReference

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "helpsteer" / "helpsteer_v1_sample500.jsonl"
QUESTION = "How do I keep basil alive indoors?"
SHORT = "Water it."
LONG = ("Basil wants six or more hours of bright light a day, so a south-facing window or a grow light is best. "
        "Water when the top centimetre of soil is dry, and let the pot drain fully. ") * 6


def test_shipped_reference_model_scores_in_range_and_longer_is_more_verbose():
    model = default_reference()
    scores = model.score([QUESTION] * 2, [SHORT, LONG], ["verbosity", "helpfulness"])
    assert scores.shape == (2, 2) and np.all((scores >= 0) & (scores <= 4))
    assert scores[1, 0] > scores[0, 0] + 1.0


@pytest.mark.skipif(not SHARED.is_file(), reason="shared data not present")
def test_shipped_model_is_reproducible_from_the_shared_data(tmp_path):
    model, report = train_reference(SHARED)
    shipped = json.loads(packaged_reference_path().read_text())
    assert model.metadata["data_sha256"] == shipped["metadata"]["data_sha256"]
    assert np.allclose(model.coef, np.array(shipped["coef"]))
    assert report["verbosity"]["spearman"] > 0.4  # grouped CV; the README table has all figures
    assert set(report) == {"helpfulness", "correctness", "coherence", "complexity", "verbosity"}


def test_attribute_model_save_load_round_trip(tmp_path):
    model = default_reference()
    path = model.save(tmp_path / "m.json")
    again = AttributeModel.load(path)
    assert np.allclose(again.predict([QUESTION], [LONG]), model.predict([QUESTION], [LONG]))


@pytest.mark.parametrize("damage, message", [
    (lambda d: "garbage{", "unreadable JSON"),
    (lambda d: {**d, "format": "other"}, "not a hia attribute model"),
    (lambda d: {**d, "feature_version": 99}, "feature version 99"),
    (lambda d: {**d, "coef": d["coef"][:-1]}, "wrong shape"),
    (lambda d: {k: v for k, v in d.items() if k != "mean"}, "damaged attribute model"),
])
def test_corrupt_attribute_model_file_gives_a_clear_error(tmp_path, damage, message):
    data = json.loads(packaged_reference_path().read_text())
    broken = damage(data)
    path = tmp_path / "bad.json"
    path.write_text(broken if isinstance(broken, str) else json.dumps(broken))
    with pytest.raises(RewardModelError, match=message):
        AttributeModel.load(path)


def test_learned_heuristic_starts_at_its_base_and_learns_the_evidence():
    embedder = HashEmbedder()
    h = LearnedHeuristic(embedder, base=_Constant(1.0), alpha=1.0)
    prompts = [f"question number {i}" for i in range(12)]
    assert np.allclose(h.predict(prompts, ["verbosity"]), 1.0)
    h.update(prompts, np.full((12, 1), 3.0), ["verbosity"])
    after = h.predict(prompts, ["verbosity"])
    assert np.all(after > 2.5)  # pulled from 1.0 toward the evidence
    assert np.allclose(h.predict(prompts, ["complexity"]), 1.0)  # no evidence for it: still the base


def test_learned_heuristic_memory_is_bounded_and_it_round_trips(tmp_path):
    h = LearnedHeuristic(HashEmbedder(), base=_Constant(2.0), max_evidence=10)
    h.update([f"p{i}" for i in range(25)], np.arange(25, dtype=float).reshape(25, 1) % 4, ["verbosity"])
    assert len(h.evidence) == 10 and h.evidence[0][0] == "p15"
    path = h.save(tmp_path / "h.json")
    again = LearnedHeuristic.load(path, embedder=HashEmbedder())
    again.base = _Constant(2.0)
    assert list(again.evidence) == list(h.evidence)
    assert np.allclose(again.predict(["p3"], ["verbosity"]), h.predict(["p3"], ["verbosity"]))


def test_corrupt_heuristic_file(tmp_path):
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"format": "hia.learned_heuristic", "version": 1, "alpha": 1, "max_evidence": 5,
                                "min_evidence": 1, "evidence": [{"prompt": "x", "scores": {"verbosity": "NaN"}}]}))
    with pytest.raises(RewardModelError, match="damaged heuristic file"):
        LearnedHeuristic.load(path, embedder=HashEmbedder())


def test_composite_routes_attributes_and_rejects_unknown_ones():
    composite = CompositeReference({"verbosity": default_reference(), "community": LengthReference()})
    scores = composite.score([QUESTION], [LONG], ["community", "verbosity"])
    assert scores.shape == (1, 2) and scores[0, 0] == 4.0
    # the verbosity column is the attribute model's own score, not the length reference's 4.0
    assert scores[0, 1] == pytest.approx(default_reference().score([QUESTION], [LONG], ["verbosity"])[0, 0])
    assert scores[0, 1] != 4.0
    with pytest.raises(RewardModelError, match="no reference model scores 'coherence'"):
        composite.score([QUESTION], [LONG], ["coherence"])


class _Constant:
    def __init__(self, value):
        self.value = value

    def predict(self, prompts, attributes):
        return np.full((len(prompts), len(attributes)), self.value)
