import asyncio

import pytest

from hia import Goal, RewardModelError, TemplateOptimizer
from hia.models.chat import ChatReply
from hia.models.optimizer import Feedback, LLMOptimizer, parse_rewrites
from hia.rewards.judge import score_from_reply


def test_parse_numbered_lines_and_labels():
    text = ('Here are the prompts:\n1. "How do plants make food? Be brief."\n2) Prompt 2: Explain photosynthesis simply.\n'
            "3. Question: ignored echo\n\n4. Briefly: how do plants eat?")
    assert parse_rewrites(text) == [
        "How do plants make food? Be brief.", "Explain photosynthesis simply.", "Briefly: how do plants eat?",
    ]


def test_parse_bullets_and_paragraphs():
    assert parse_rewrites("- one way?\n* another way?") == ["one way?", "another way?"]
    assert parse_rewrites("First prompt here?\n\nSecond   prompt\nhere?") == ["First prompt here?", "Second prompt here?"]
    assert parse_rewrites("   ") == []


def test_template_optimizer_is_deterministic_and_rotates():
    goal = Goal.parse("verbosity=1")
    a, b = TemplateOptimizer(), TemplateOptimizer()
    first = asyncio.run(a.propose("Why is the sky blue?", goal, 3))
    assert first == asyncio.run(b.propose("Why is the sky blue?", goal, 3))
    assert len(set(first)) == 3 and all("Why is the sky blue?" in p for p in first)
    assert "Length: two or three sentences (about 20 to 60 words)." in first[0]  # the target's rubric, level 1, first
    # then the levels beside it, for the heuristic to choose between
    assert "Length: a few words or one short sentence (under 20 words)." in first[1]  # level 0
    assert "Length: one solid paragraph (about 60 to 150 words)." in first[2]  # level 2
    # a rewrite of its own rewrite goes on with the next phrasings
    later = asyncio.run(a.propose(first[-1], goal, 3, original="Why is the sky blue?"))
    assert not set(first) & set(later) and a.frame_of(later[0], "Why is the sky blue?") == 3


def test_feedback_names_the_direction_to_move():
    goal = Goal.parse("verbosity=1,helpfulness=4")
    note = Feedback({"verbosity": 3.2, "helpfulness": 3.8}).describe(goal)
    assert "verbosity was 3.2, wanted 1: ask for less verbosity" == note


def test_llm_optimizer_request_carries_goal_meaning_and_examples():
    opt = LLMOptimizer("m", base_url="http://127.0.0.1:9/v1")
    messages = opt.messages("Why is the sky blue?", Goal.parse("verbosity=0,complexity=4"), 6)
    roles = [m["role"] for m in messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    request = messages[-1]["content"]
    assert "Length: a few words or one short sentence (under 20 words)." in request  # the rubrics of the targets
    assert "Wording: expert technical language and in-depth analysis" in request
    assert "Write 6 prompts" in request and "repeats the question word for word" in request


def test_judge_reads_the_expected_digit_from_top_logprobs():
    import math

    reply = ChatReply(text="3", first_token_logprobs={"3": math.log(0.5), " 4": math.log(0.25), "2": math.log(0.25), "x": -1})
    assert score_from_reply(reply) == pytest.approx(3.0)
    reply = ChatReply(text="4", first_token_logprobs={"4": math.log(0.9), "0": math.log(0.1)})
    assert score_from_reply(reply) == pytest.approx(3.6)


def test_judge_falls_back_to_the_printed_digit_and_fails_clearly():
    assert score_from_reply(ChatReply(text="Score: 2")) == 2.0
    with pytest.raises(RewardModelError, match="holds no score"):
        score_from_reply(ChatReply(text="great answer"))
