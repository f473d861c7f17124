"""The shipped heuristic chooses: it reads the question, its round-1 pool differs, ties follow the
documented rule, a resample is paid for like any call, and what it learns about a policy lasts."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hia import AsyncAligner, FilterSettings, Goal, HeuristicRewardModel, SearchOptions, TemplateOptimizer
from hia.core.objectives import euclidean
from hia.core.results import Candidate
from hia.models.embeddings import shared_embedder
from hia.models.optimizer import goal_conditioned_prompt
from hia.rewards.policy_heuristic import PolicyHeuristic
from hia.rewards.policy_memory import PolicyMemory
from hia.rewards.shipped import default_heuristic, shipped_prior
from hia.search.filters import stage2, tie_key

from .fakes import LengthReference

ROOT = Path(__file__).resolve().parents[1]
LONG_ASK = "Write a detailed essay on the causes and the consequences of the fall of the Roman Empire."
SHORT_ASK = "What is the capital of Australia?"


@pytest.fixture(scope="module")
def heuristic() -> PolicyHeuristic:
    return default_heuristic(shared_embedder())  # the shipped prior, nothing learned


def rewrite(question: str, goal: Goal, index: int = 0) -> str:
    return asyncio.run(TemplateOptimizer().propose(question, goal, index + 1))[index]


def test_two_questions_under_one_instruction_get_different_predictions(heuristic):
    goal = Goal.parse("verbosity=1,complexity=1")
    essay = heuristic.predict_for(LONG_ASK, [rewrite(LONG_ASK, goal)], goal.attributes)[0]
    capital = heuristic.predict_for(SHORT_ASK, [rewrite(SHORT_ASK, goal)], goal.attributes)[0]
    # The same rubric asked for, yet the essay question is expected to draw the longer answer.
    assert essay[0] > capital[0] + 0.1
    assert shipped_prior().metadata["split"] == "dev"  # fitted on development prompts only


def test_a_round_one_pool_holds_rewrites_predicted_to_differ(heuristic):
    goal = Goal.parse("verbosity=1,complexity=1")
    rewrites = asyncio.run(TemplateOptimizer().propose(SHORT_ASK, goal, 8))
    predicted = heuristic.predict_for(SHORT_ASK, rewrites, goal.attributes)
    root = heuristic.predict_for(SHORT_ASK, [goal_conditioned_prompt(SHORT_ASK, goal)], goal.attributes)[0]
    distinct = {tuple(np.round(row, 3)) for row in predicted} - {tuple(np.round(root, 3))}
    assert len(distinct) >= 2


def test_an_answer_moves_the_prediction_for_that_policy(heuristic):
    goal = Goal.parse("verbosity=1")
    learner = PolicyHeuristic(shipped_prior(), memory=PolicyMemory(None))
    prompt = rewrite(SHORT_ASK, goal)
    before = learner.predict_for(SHORT_ASK, [prompt], goal.attributes)[0, 0]
    for question in ("Why is the sky blue?", "How do magnets work?", "What is a prime number?"):
        asked = rewrite(question, goal)
        learner.update_for(question, [asked], np.array([[3.0]]), goal.attributes)  # it wrote long when asked for short
    after = learner.predict_for(SHORT_ASK, [prompt], goal.attributes)[0, 0]
    assert after > before + 0.3
    assert learner.spread_for(SHORT_ASK, [prompt], goal.attributes)[0, 0] < \
        heuristic.spread_for(SHORT_ASK, [prompt], goal.attributes)[0, 0]  # and is surer of it


class Tied(HeuristicRewardModel):
    """Predicts every prompt the same; the uncertainty is given per prompt."""

    def __init__(self, spreads: dict[str, float] | None = None) -> None:
        self.spreads = spreads or {}

    def predict(self, prompts, attributes):
        return np.full((len(prompts), len(attributes)), 1.0)

    def spread_for(self, question, prompts, attributes):
        return None if not self.spreads else np.array([[self.spreads[p]] * len(attributes) for p in prompts])


def pool(*prompts: str) -> list[Candidate]:
    return [Candidate(id=i, prompt=p, round=1, source="optimizer") for i, p in enumerate(prompts)]


def test_a_tie_goes_to_the_more_uncertain_prediction_then_to_the_hash_never_to_order():
    goal = Goal.parse("verbosity=1")
    texts = ["Explain A.", "Explain B.", "Explain C."]
    by_hash = min(texts, key=tie_key)
    for order in (texts, texts[::-1]):
        [kept] = stage2(pool(*order), goal, Tied(), euclidean, keep=1, question="Explain.")
        assert kept.prompt == by_hash
        unsure = {t: (0.9 if t == "Explain C." else 0.1) for t in texts}
        [kept] = stage2(pool(*order), goal, Tied(unsure), euclidean, keep=1, question="Explain.")
        assert kept.prompt == "Explain C."


class DoubtsEveryRewrite(HeuristicRewardModel):
    def predict(self, prompts, attributes):
        return np.full((len(prompts), len(attributes)), 4.0)  # every new prompt predicted far off


def on_goal_aligner(calls: list[str], **options: object) -> AsyncAligner:
    """An aligner whose policy always answers on the goal (LengthReference: verbosity 1.0) and
    whose heuristic doubts every new prompt: the best prompt so far is worth asking again."""
    def policy(prompt: str, seed: int = 0) -> str:
        calls.append(prompt)
        return " ".join(["word"] * 12)

    return AsyncAligner(policy, LengthReference(), optimizer=TemplateOptimizer(), heuristic=DoubtsEveryRewrite(),
                        embedder=shared_embedder(), filters=FilterSettings(drift_similarity=-1.0),
                        options=SearchOptions(online_learning=False, **options))


def test_a_resample_is_chosen_on_its_answers_and_paid_for_like_any_call():
    calls: list[str] = []
    result = asyncio.run(on_goal_aligner(calls).align(SHORT_ASK, "verbosity=1", budget=3, method="hia"))
    resampled = [c for c in result.candidates if c.source == "resample" and c.evaluation is not None]
    assert resampled, "the best prompt so far, whose answer met the goal, was not asked again"
    assert result.usage.policy_calls == len(calls) == 3  # every call, the resamples' too, within the budget
    assert {c.evaluation.seed for c in result.evaluated} == {1234, 1235, 1236}  # each with its own seed
    first = next(c for c in result.candidates if c.id == resampled[0].parent_id)
    assert resampled[0].prompt == first.prompt


MEMORY_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {root!r})
    from hia import Goal, TemplateOptimizer
    from hia.rewards.policy_memory import PolicyMemory
    from hia.rewards.shipped import default_heuristic
    import asyncio
    goal = Goal.parse("verbosity=1")
    question = "What is a prime number?"
    prompt = asyncio.run(TemplateOptimizer().propose(question, goal, 1))[0]
    heuristic = default_heuristic(memory=PolicyMemory({path!r}, policy="local test-model"))
    print(heuristic.memory.evidence("verbosity"), float(heuristic.predict_for(question, [prompt], ["verbosity"])[0, 0]))
    if sys.argv[1] == "learn":
        heuristic.update_for(question, [prompt] * 4, np.full((4, 1), 3.5), ["verbosity"])
""")


def test_what_is_learned_persists_across_processes_and_holds_no_prompt(tmp_path):
    path = tmp_path / "memory" / "policy.json"
    script = tmp_path / "learn.py"
    script.write_text(MEMORY_SCRIPT.format(root=str(ROOT), path=str(path)))

    def run(mode: str) -> tuple[int, float]:
        out = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        evidence, prediction = out.stdout.split()
        return int(evidence), float(prediction)

    cold = run("learn")
    warm = run("learn")  # a second process finds the first one's evidence, and adds its own
    last = run("read")
    assert cold[0] == 0 and warm[0] == 4 and last[0] == 8
    assert warm[1] > cold[1] and last[1] > warm[1]
    text = path.read_text()
    assert "prime" not in text and "verbosity" in text  # statistics only, never the prompt
    assert json.loads(text)["policy"] == "local test-model"


def test_resampling_is_an_option_the_command_line_sets():
    import argparse

    from hia.cli._common import add_pipeline_args, search_options_from

    parser = argparse.ArgumentParser()
    add_pipeline_args(parser)
    assert search_options_from(parser.parse_args([])).resample is True
    assert search_options_from(parser.parse_args(["--no-resample"])).resample is False
    calls: list[str] = []
    result = asyncio.run(on_goal_aligner(calls, resample=False).align(SHORT_ASK, "verbosity=1", budget=3, method="hia"))
    assert not [c for c in result.candidates if c.source == "resample"] and len(calls) == 3


@pytest.mark.parametrize("content, message", [
    ("not json", "unreadable JSON"),
    ('{"format": "hia.attribute_model"}', "not a hia question prior"),
    ('{"format": "hia.question_prior", "version": 9}', "version 9"),
    ('{"format": "hia.question_prior", "version": 2, "mean": [0, 0], "weights": {"verbosity": [1]}, '
     '"intercepts": {"verbosity": 1}}', "damaged question prior"),
])
def test_a_damaged_question_prior_is_refused_with_its_remedy(tmp_path, content, message):
    from hia import RewardModelError
    from hia.rewards.prior import QuestionPrior

    path = tmp_path / "prior.json"
    path.write_text(content)
    with pytest.raises(RewardModelError, match=message) as caught:
        QuestionPrior.load(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("content, message", [
    ("[1, 2", "not a readable state file"),
    ('{"format": "hia.policy_memory", "version": 2}', "not a hia policy memory of version 1"),
    ('{"format": "hia.policy_memory", "version": 1, "attributes": {"verbosity": {"n": 1}}}', "damaged policy memory"),
])
def test_a_damaged_policy_memory_is_refused_with_its_remedy(tmp_path, content, message):
    from hia import RewardModelError

    path = tmp_path / "memory.json"
    path.write_text(content)
    with pytest.raises(RewardModelError, match=message) as caught:
        PolicyMemory(path)
    assert "delete it" in str(caught.value)


def test_a_round_whose_only_contender_is_a_resample_still_ranks_it():
    goal = Goal.parse("verbosity=1")
    again = Candidate(id=3, prompt="Explain A.", round=2, source="resample")
    [kept] = stage2([again], goal, Tied(), euclidean, keep=1, question="Explain.",
                    observed={"Explain A.": [{"verbosity": 1.5}]})
    assert kept is again and kept.heuristic_reward == -0.5


def test_train_prior_learns_which_questions_draw_long_answers(tmp_path):
    from hia.errors import DataError
    from hia.training.prior import train_prior

    rows = []
    for i in range(20):
        rows.append({"prompt": f"Write a long detailed essay about topic {i}.", "response": "word " * 320})
        rows.append({"prompt": f"What is the short name of thing {i}?", "response": "A name."})
    path = tmp_path / "rated.jsonl"
    path.write_text("".join(json.dumps({**r, **{a: 2 for a in ("helpfulness", "correctness", "coherence",
                                                                   "complexity", "verbosity")}}) + "\n" for r in rows))
    prior, report = train_prior([path], all_prompts=True)
    essay, name = prior.predict(["Write a long detailed essay about gardens.", "What is the short name of gold?"],
                                ["verbosity"])[:, 0]
    assert essay > name + 1.0 and report.prompts == 40 and report.cv_spearman["verbosity"] > 0.5
    assert prior.metadata["split"] == "all"
    few = tmp_path / "few.jsonl"
    few.write_text("".join(path.read_text().splitlines(keepends=True)[:6]))
    with pytest.raises(DataError, match="too few"):
        train_prior([few], all_prompts=True)  # 6 questions: fewer than two per fold
