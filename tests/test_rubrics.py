"""Rubrics per level, the optimizers that write from them, and the heuristic that reads them."""

import asyncio
import warnings

import numpy as np
import pytest

from hia import (
    AsyncAligner,
    Attribute,
    Goal,
    GoalError,
    TemplateOptimizer,
    UnjudgeableGoalWarning,
    ZeroShotHeuristic,
)
from hia import _defaults as D
from hia.core.attributes import (
    HELPSTEER_ATTRIBUTES,
    get_attribute,
    known_attributes,
    requested_levels,
    stated_targets,
)
from hia.models.optimizer import (
    Feedback,
    aimed_levels,
    goal_conditioned_prompt,
    rubric_instructions,
)
from hia.rewards.preference import COMMUNITY  # registers `community`
from hia.search.filters import split_prompt

from .fakes import HashEmbedder, LengthReference

QUESTION = "How do I keep basil alive indoors?"


def test_every_built_in_attribute_has_a_rubric_for_each_level():
    for attribute in (*HELPSTEER_ATTRIBUTES, COMMUNITY):
        whole_levels = range(int(attribute.low), int(attribute.high) + 1)
        assert len(attribute.levels) == len(whole_levels), attribute.name
        assert all(len(text.split()) >= 3 for text in attribute.levels), attribute.name  # a description, not a word
        assert len(set(attribute.levels)) == len(attribute.levels), attribute.name
        assert [attribute.rubric(level) for level in whole_levels] == list(attribute.levels)
    assert {"helpfulness", "correctness", "coherence", "complexity", "verbosity", "community"} <= set(known_attributes())


def test_the_rubric_states_the_bands_the_exact_reference_measures():
    verbosity, complexity = get_attribute("verbosity"), get_attribute("complexity")
    for edge, (lower, upper) in zip(D.VERBOSITY_WORD_EDGES, zip(verbosity.levels, verbosity.levels[1:])):
        assert str(edge) in lower and str(edge) in upper  # "(about 20 to 60 words)" meets "(under 20 words)"
    for edge, (lower, upper) in zip(D.COMPLEXITY_GRADE_EDGES, zip(complexity.levels, complexity.levels[1:])):
        assert f"{edge - 0.5:g}" in lower and f"{edge + 0.5:g}" in upper  # grade 4 | 5, 7 | 8, ...


def test_a_user_rubric_needs_one_description_per_level():
    with pytest.raises(GoalError, match="one description per whole score from 1 to 3"):
        Attribute("formality", 1, 3, "how formal", "casual", "formal", ("casual", "neutral"))
    formality = Attribute("formality", 1, 3, "how formal", "casual", "formal",
                          ("chatty and casual, like a text to a friend", "neutral, like a news report",
                           "formal, like a legal letter"), "Register")
    assert formality.rubric(2.6) == "formal, like a legal letter" and formality.rubric(0) == "chatty and casual, like a text to a friend"


def test_requested_levels_reads_quoted_rubrics_and_stated_targets_read_the_goal_statement():
    goal = Goal.parse("verbosity=1,complexity=3")
    [rewrite] = asyncio.run(TemplateOptimizer().propose(QUESTION, goal, 1))
    assert requested_levels(rewrite, ["verbosity", "complexity", "helpfulness"]) == {"verbosity": 1, "complexity": 3}
    root = goal_conditioned_prompt(QUESTION, goal)
    assert requested_levels(root, ["verbosity", "complexity"]) == {}
    assert stated_targets(root, ["verbosity", "complexity"]) == {"verbosity": 1.0, "complexity": 3.0}


def test_template_rewrites_keep_the_question_and_add_the_target_rubric():
    goal = Goal.parse("verbosity=0,complexity=1")
    rewrites = asyncio.run(TemplateOptimizer().propose(QUESTION, goal, 4))
    assert len(set(rewrites)) == 4
    asked = []
    for rewrite in rewrites:
        question, instructions = split_prompt(rewrite, QUESTION)
        assert question == QUESTION
        asked.append(requested_levels(rewrite, ["verbosity", "complexity"]))
    # The target first, then each attribute one level off it in turn (verbosity 0 has no level below).
    assert asked == [{"verbosity": 0, "complexity": 1}, {"verbosity": 1, "complexity": 1},
                     {"verbosity": 0, "complexity": 0}, {"verbosity": 0, "complexity": 2}]
    first = split_prompt(rewrites[0], QUESTION)[1]
    assert "length: a few words or one short sentence (under 20 words)." in first
    assert "wording: plain everyday words and no jargon (reading grade 5 to 7)." in first


def test_feedback_moves_the_level_asked_for_by_the_measured_miss():
    goal = Goal.parse("verbosity=2,complexity=1")
    asked = "\n".join([QUESTION, *rubric_instructions({"verbosity": 2, "complexity": 1}, goal)])
    # The answer came out long (3.4 when asked for 2) and on target for complexity.
    aims = aimed_levels(goal, Feedback({"verbosity": 3.4, "complexity": 1.2}, prompt=asked))
    assert aims[0] == {"verbosity": 1.0, "complexity": 1.0}  # full correction: 2 - (3.4 - 2) = 0.6 -> 1
    assert all(a["complexity"] == 1.0 for a in aims)  # what met its target is asked for again
    assert all(a["verbosity"] < 2 for a in aims)  # never the level that overshot
    assert aimed_levels(goal, Feedback({"verbosity": 2.2, "complexity": 0.9}, prompt=asked)) == [dict(goal.targets)]
    [rewrite] = asyncio.run(TemplateOptimizer().propose(QUESTION, goal, 1, feedback=Feedback({"verbosity": 3.4, "complexity": 1.2}, prompt=asked)))
    assert requested_levels(rewrite, ["verbosity", "complexity"]) == {"verbosity": 1, "complexity": 1}


def test_split_prompt_separates_added_instructions_from_a_reworded_question():
    assert split_prompt(f"{QUESTION} Answer in two sentences.", QUESTION) == (QUESTION, "answer in two sentences.")
    question, instructions = split_prompt("How can basil survive inside? Keep the answer short. Use plain words.", QUESTION)
    assert question == "How can basil survive inside?" and instructions == "Keep the answer short. Use plain words."
    assert split_prompt("Explain in one sentence how to keep basil alive.", QUESTION)[1] == ""  # nothing separable


def test_zero_shot_heuristic_trusts_a_spelled_out_level_more_than_a_stated_goal():
    heuristic = ZeroShotHeuristic(HashEmbedder())
    goal = Goal.parse("verbosity=0")
    [rewrite] = asyncio.run(TemplateOptimizer().propose(QUESTION, goal, 1))
    root = goal_conditioned_prompt(QUESTION, goal)
    predicted = heuristic.predict([root, rewrite], ["verbosity"])[:, 0]
    assert predicted[0] == pytest.approx(2 + D.HEURISTIC_STATED_COMPLIANCE * (0 - 2))
    assert predicted[1] == pytest.approx(2 + D.HEURISTIC_RUBRIC_COMPLIANCE * (0 - 2))
    assert predicted[1] < predicted[0]


def test_a_goal_the_reference_cannot_judge_is_warned_about_once():
    class Measured(LengthReference):
        def agreement(self, attribute):
            return {"helpfulness": 0.05, "verbosity": 0.6}.get(attribute)

    aligner = AsyncAligner(lambda prompt: "a short answer", Measured(), embedder=HashEmbedder())
    with pytest.warns(UnjudgeableGoalWarning, match=r"cannot judge helpfulness \(Spearman 0.05\)") as caught:
        asyncio.run(aligner.align(QUESTION, "helpfulness=4,verbosity=1", budget=1, method="best_of_n"))
    assert len(caught) == 1 and "verbosity" not in str(caught[0].message) and "--judge-model" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning for the same goal would raise here
        asyncio.run(aligner.align(QUESTION, "helpfulness=4,verbosity=1", budget=1, method="best_of_n"))
        asyncio.run(aligner.align(QUESTION, "verbosity=1", budget=1, method="best_of_n"))  # judgeable: no warning


def test_the_shipped_reference_warns_about_helpfulness_and_not_about_verbosity():
    from hia import default_reference

    reference = default_reference()
    assert reference.agreement("helpfulness") < D.UNJUDGEABLE_SPEARMAN <= reference.agreement("verbosity")
    assert np.isfinite(reference.agreement("complexity"))
