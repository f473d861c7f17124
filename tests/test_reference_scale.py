"""The exact reference on hand-made texts, and the trained model's map onto the label scale."""

import numpy as np
import pytest

from hia import ExactReference, RewardModelError
from hia.rewards.attribute_model import (
    AttributeModel,
    apply_curve,
    calibration_curve,
    out_of_fold,
)
from hia.rewards.exact import (
    complexity_score,
    on_bands,
    reading_grade,
    verbosity_score,
    word_count,
)

CHILD = "The cat sat on the mat. It was a big cat. It was red. The dog ran to it. They had fun."
EXPERT = ("Photosynthetic carbon fixation proceeds through ribulose-1,5-bisphosphate carboxylation, whereby "
          "thermodynamically unfavourable intermediates are stabilised by stoichiometric adenosine triphosphate hydrolysis.")


def words(n: int) -> str:
    return " ".join(["word"] * n)


def test_verbosity_counts_words_onto_the_rubric_bands():
    # band edges score half-way between levels; below and above, the nearest slope, clipped to 0..4
    assert [round(verbosity_score(words(n)), 3) for n in (20, 60, 150, 300)] == [0.5, 1.5, 2.5, 3.5]
    assert verbosity_score("Yes.") == 0.0 and verbosity_score("") == 0.0
    assert verbosity_score(words(2000)) == 4.0
    assert 1.5 < verbosity_score(words(100)) < 2.5  # "one solid paragraph"
    assert verbosity_score(words(35)) < verbosity_score(words(36))  # two lengths never tie


def test_complexity_reads_the_reading_grade_onto_the_rubric_bands():
    assert reading_grade(CHILD) < 3 and complexity_score(CHILD) == 0.0
    assert reading_grade(EXPERT) > 20 and complexity_score(EXPERT) == 4.0
    middle = ("Plants use sunlight to make sugar from water and carbon dioxide. This process happens in the leaves, "
              "inside small green parts called chloroplasts, and it releases oxygen into the air.")
    assert 1.0 < complexity_score(middle) < 3.5
    assert complexity_score(middle) == pytest.approx(on_bands(reading_grade(middle), (4.5, 7.5, 10.5, 13.5)))
    assert complexity_score("") == 0.0


def test_on_bands_is_linear_between_edges_and_monotone():
    edges = (4.5, 7.5, 10.5, 13.5)
    assert on_bands(6.0, edges) == pytest.approx(1.0) and on_bands(12.0, edges) == pytest.approx(3.0)
    values = [on_bands(x, edges) for x in np.linspace(-5, 30, 200)]
    assert all(b >= a for a, b in zip(values, values[1:])) and min(values) == 0.0 and max(values) == 4.0


def test_exact_reference_scores_and_refuses_what_it_cannot_measure():
    reference = ExactReference()
    scores = reference.score(["q"] * 2, [words(10), words(200)], ["verbosity", "complexity"])
    assert scores.shape == (2, 2) and scores[0, 0] == 0.0 and 2.5 < scores[1, 0] < 3.5
    with pytest.raises(RewardModelError, match="measures only"):
        reference.score(["q"], ["a"], ["helpfulness"])
    assert reference.agreement("verbosity") == 1.0 and reference.agreement("helpfulness") == 0.0


def test_calibration_curve_is_strictly_increasing_and_spreads_onto_the_labels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=400).astype(float)
    predicted = 1.5 + 0.2 * (labels - 1.5) + rng.normal(0, 0.15, size=400)  # compressed, noisy, in order
    knots, values = calibration_curve(predicted, labels, 0.0, 4.0)
    assert np.all(np.diff(knots) > 0) and np.all(np.diff(values) > 0)
    mapped = apply_curve(predicted, knots, values)
    assert np.ptp(np.percentile(mapped, [5, 95])) > 2 * np.ptp(np.percentile(predicted, [5, 95]))
    order = np.argsort(predicted)
    assert np.all(np.diff(mapped[order]) >= 0)  # the ranking of answers is kept
    beyond = apply_curve(np.array([knots[-1] + 0.5]), knots, values)[0]
    assert beyond > values[-1]  # an answer past anything seen in training still scores higher


def test_the_scale_map_is_fitted_on_out_of_fold_predictions():
    rng = np.random.default_rng(1)
    prompts = [f"prompt {i // 4}" for i in range(120)]
    responses = [" ".join(["word"] * int(n)) + "." for n in rng.integers(1, 300, size=120)]
    targets = np.array([[min(4.0, len(r.split()) / 60 + rng.normal(0, 0.5))] for r in responses]).clip(0, 4)
    model = AttributeModel.fit(prompts, responses, targets, ["verbosity"], calibrate_folds=4)
    raw, _ = out_of_fold(prompts, responses, targets, ["verbosity"], folds=4, calibrate_folds=0)
    expected = calibration_curve(raw[:, 0], targets[:, 0], 0.0, 4.0)
    knots, values = model.calibration["verbosity"]
    assert np.allclose(knots, expected[0]) and np.allclose(values, expected[1])
    in_sample = model.predict(prompts, responses, calibrated=False)[:, 0]
    assert not np.allclose(np.sort(in_sample), np.sort(raw[:, 0]))  # in-sample fit differs: it was not used
    assert model.metadata["calibration_folds"] == 4


def test_the_shipped_model_is_on_the_label_scale():
    from hia import default_reference

    model = default_reference()
    short, long = "Water it.", ("Basil wants six or more hours of bright light a day, so a south window is best. " * 25)
    scores = model.score(["How do I keep basil alive indoors?"] * 2, [short, long], ["verbosity"])[:, 0]
    assert scores[0] < 1.0 and scores[1] > 3.0
    cv = model.metadata["cv"]["verbosity"]
    assert cv["spread"][1] - cv["spread"][0] > cv["spread_uncalibrated"][1] - cv["spread_uncalibrated"][0]
    assert word_count(long) > 300
