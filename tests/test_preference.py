"""The community preference model on pairs whose preferred answer is knowable."""

import json

import numpy as np
import pytest

from hia import RewardModelError
from hia.data.types import PreferencePair
from hia.rewards.preference import CommunityPreferenceModel, pair_accuracy_cv

TOPICS = ["printing", "nozzle", "filament", "bed levelling", "stringing", "warping", "slicer", "extruder"]


def pairs(n=80):
    """The community prefers detailed answers that mention the question's topic over one-liners."""
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        q = f"Question {i}: how do I fix {topic} problems on my printer?"
        good = (f"For {topic} problems, first check the temperature, then the speed, then calibrate. "
                f"Here is why each step matters for {topic}, with the settings I use.")
        bad = "No idea, sorry."
        out.append(PreferencePair(q, good, bad, community="3dprinting" if i % 4 else "meta"))
    return out


def test_fits_per_community_and_prefers_the_chosen_kind(hash_embedder):
    model = CommunityPreferenceModel.fit(pairs(), min_pairs=50, embedder=hash_embedder)
    assert set(model.weights) == {"all", "3dprinting"}  # meta has 20 pairs, under min_pairs
    q = "Question 999: how do I fix warping problems on my printer?"
    seen = {text for pair in pairs() for text in (pair.chosen, pair.rejected)}
    detailed = ("Warping usually means the bed is too cold: check its temperature, lower the speed of the first "
                "layer, then calibrate again; these are the settings that worked for my printer.")
    curt = "Dunno, sorry about that."
    assert detailed not in seen and curt not in seen  # answers the model never saw
    scores = model.score([q, q], [detailed, curt], ["community"])
    assert scores.shape == (2, 1) and np.all((scores > 0) & (scores < 4))
    assert scores[0, 0] > scores[1, 0]


def test_pair_accuracy_is_reported_per_community(hash_embedder):
    accuracy = pair_accuracy_cv(pairs(), folds=4, embedder=hash_embedder, min_pairs=30)
    assert set(accuracy) == {"3dprinting", "meta", "all", "pairs"}
    assert accuracy["all"] >= 0.9  # the preference is plainly learnable from length and wording


def test_round_trip_and_corrupt_file(tmp_path, hash_embedder):
    model = CommunityPreferenceModel.fit(pairs(), embedder=hash_embedder)
    path = model.save(tmp_path / "p.json")
    again = CommunityPreferenceModel.load(path, embedder=hash_embedder)
    assert np.allclose(again.score(["q?"], ["an answer"], ["community"]), model.score(["q?"], ["an answer"], ["community"]))
    data = json.loads(path.read_text())
    data["weights"]["all"] = data["weights"]["all"][:3]
    path.write_text(json.dumps(data))
    with pytest.raises(RewardModelError, match="wrong shape"):
        CommunityPreferenceModel.load(path)
    with pytest.raises(RewardModelError, match="no model for community 'cooking'"):
        CommunityPreferenceModel.load(model.save(tmp_path / "q.json"), community="cooking")


def test_scores_only_the_community_attribute(hash_embedder):
    model = CommunityPreferenceModel.fit(pairs(), embedder=hash_embedder)
    with pytest.raises(RewardModelError, match="scores only 'community'"):
        model.score(["q"], ["a"], ["verbosity"])
