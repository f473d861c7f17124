"""Stage 1 and the zero-shot heuristic with the real packaged embedding model."""

import numpy as np
import pytest

from hia import FilterSettings, Goal, HeuristicRewardModel, ZeroShotHeuristic
from hia.core.objectives import euclidean
from hia.core.results import Candidate
from hia.models.embeddings import shared_embedder
from hia.search.filters import answer_reason, stage1, stage2

PROMPT = "How do I keep basil alive indoors?"


@pytest.fixture(scope="module")
def embedder():
    return shared_embedder()


def cands(*prompts):
    return [Candidate(id=i, prompt=p, round=1, source="optimizer") for i, p in enumerate(prompts)]


def test_stage1_drops_each_kind_of_bad_candidate(embedder):
    pool = cands(
        "How do I keep basil alive indoors? Answer in two sentences.",  # good
        "",
        "Sure! Basil needs six hours of sun and moist soil.",
        "The stock market rose three percent today on strong earnings?",  # drifted
        "How can I keep my basil alive indoors? Answer in two sentences.",  # near-duplicate of #0
        "Basil needs light and water and a warm spot by the window.",  # a statement, asks nothing
    )
    kept = stage1(pool, PROMPT, embedder)
    assert [c.id for c in kept] == [0]
    reasons = {c.id: c.reason for c in pool}
    assert reasons[1] == "empty"
    assert reasons[2].startswith("answers instead of asking: opens like a reply")
    assert reasons[3].startswith("drift: similarity")
    assert reasons[4] == "near-duplicate of candidate #0"
    assert reasons[5] == "answers instead of asking: no question or request in it"
    assert all(c.dropped_by == "stage1" for c in pool[1:])
    assert pool[0].similarity > 0.7 and pool[3].similarity < 0.45


def test_stage1_drops_repeats_of_evaluated_prompts(embedder):
    pool = cands("How do I keep basil alive indoors? Be brief.")
    assert stage1(pool, PROMPT, embedder, earlier=["how do I keep basil alive indoors?  be brief."]) == []
    assert pool[0].reason == "duplicate of a prompt already evaluated"


def test_stage1_drops_rewordings_of_evaluated_prompts_and_keeps_new_asks(embedder):
    # Not the same text: the same question and near-identical instructions, by their embeddings.
    pool = cands("How can I keep my basil alive indoors? Answer in two sentences.",
                 "How do I keep basil alive indoors? Give a detailed answer with every step.")
    kept = stage1(pool, PROMPT, embedder, earlier=["How do I keep basil alive indoors? Answer in two sentences."])
    assert [c.id for c in kept] == [1]
    assert pool[0].reason == "duplicate of a prompt already evaluated"


def test_a_long_answer_is_not_a_prompt():
    settings = FilterSettings()
    long_text = "How to keep basil: " + "water it daily and give it sun " * 15
    assert "words against the prompt's" in answer_reason(long_text, PROMPT, settings)
    assert answer_reason("Explain in detail, with examples, how to keep basil alive indoors.", PROMPT, settings) is None


def test_stage2_keeps_the_top_k_by_predicted_reward(embedder):
    pool = cands(
        "How do I keep basil alive indoors? Explain thoroughly, step by step, over several paragraphs.",
        "How do I keep basil alive indoors? Answer in one short sentence.",
        "How do I keep basil alive indoors?",
    )
    goal = Goal.parse("verbosity=4")
    kept = stage2(pool, goal, ZeroShotHeuristic(embedder), euclidean, keep=1,
                  question="How do I keep basil alive indoors?")
    assert [c.id for c in kept] == [0]
    assert pool[1].dropped_by == "stage2" and "rank 3 of 3" in pool[1].reason
    assert pool[0].heuristic_reward > pool[2].heuristic_reward > pool[1].heuristic_reward


def test_zero_shot_heuristic_shapes_ranges_and_directions(embedder):
    h = ZeroShotHeuristic(embedder)
    prompts = [
        "What causes inflation? Answer in one short sentence.",
        "Explain thoroughly, over several paragraphs, what causes inflation, with examples.",
        "What causes inflation? Explain in simple words a child can understand.",
        "What causes inflation? Give an expert, technical analysis with specialist terminology.",
    ]
    out = h.predict(prompts, ["verbosity", "complexity"])
    assert out.shape == (4, 2) and np.all((out >= 0) & (out <= 4))
    assert out[1, 0] > out[0, 0] + 1  # asking for paragraphs predicts more verbosity
    assert out[3, 1] > out[2, 1] + 1  # asking for expert terms predicts more complexity


def test_embedding_cache_prevents_recomputation(embedder):
    before = embedder.encoded_texts
    first = embedder.embed(["a fresh sentence about tea", "another about coffee"])
    again = embedder.embed(["another about coffee", "a fresh sentence about tea"])
    assert embedder.encoded_texts == before + 2
    assert np.allclose(first[::-1], again)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)


def test_drift_compares_the_question_part_not_the_added_instructions(embedder):
    question = "Is coffee bad for you?"  # short, so long instructions would swamp it in a whole-text comparison
    instructions = ("Length: several paragraphs (about 150 to 300 words). Wording: expert technical language and "
                    "in-depth analysis (reading grade 14 and above). Use headings, examples and a summary at the end.")
    kept_question = f"{question}\n\nAnswer requirements. {instructions}"
    changed_question = f"What is the capital of Australia?\n\nAnswer requirements. {instructions}"
    pool = cands(kept_question, changed_question)
    kept = stage1(pool, question, embedder)
    assert [c.id for c in kept] == [0] and pool[0].similarity > 0.99  # the question itself, word for word
    assert pool[1].reason.startswith("drift:")
    # compared whole, the instructions alone would have pulled the faithful rewrite below the threshold
    whole = embedder.embed([question, kept_question])
    assert float(whole[0] @ whole[1]) < FilterSettings().drift_similarity


def test_residual_offsets_shift_predictions_by_the_misses_so_far():
    from hia.core.results import Evaluation
    from hia.search.filters import residual_offsets

    answered = cands("a", "b")
    for c, (predicted, actual) in zip(answered, [(2.0, 3.0), (1.0, 1.5)]):
        c.heuristic_scores = {"verbosity": predicted}
        c.answer(Evaluation(response="x", scores={"verbosity": actual}, rewards={}, seed=0))
    assert residual_offsets(answered, ["verbosity", "complexity"]) == {"verbosity": 0.75}
    fresh = cands("c", "d")

    class Flat(HeuristicRewardModel):
        def predict(self, prompts, attributes):
            return np.array([[2.0], [1.0]])

    chosen = stage2(fresh, Goal({"verbosity": 2.0}), Flat(), euclidean, keep=1, question="Why?",
                    offsets={"verbosity": 0.75})
    assert chosen[0].prompt == "d" and chosen[0].heuristic_scores == {"verbosity": 1.75}  # 1.0 + 0.75 is nearest 2
