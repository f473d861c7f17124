"""Each search's logic, with in-process fakes (no model, no network)."""

import asyncio
import re

import pytest

from hia import AsyncAligner, Budget, BudgetExhausted, FilterSettings, InputError, SearchOptions, TemplateOptimizer
from hia.errors import EndpointUnreachable
from hia.search import METHODS

from .fakes import FixedOptimizer, KeywordHeuristic, LengthReference, echo_policy

GOAL = "verbosity=4"
LOOSE = FilterSettings(drift_similarity=-1.0)  # hash embeddings carry no meaning: no drift test here


def make(hash_embedder, policy=echo_policy, optimizer=None, **options):
    return AsyncAligner(policy, LengthReference(), optimizer=optimizer or TemplateOptimizer(),
                        heuristic=KeywordHeuristic(), embedder=hash_embedder, filters=LOOSE,
                        options=SearchOptions(**options))


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("budget", range(1, 9))
def test_no_method_exceeds_its_budget(hash_embedder, method, budget):
    result = run(make(hash_embedder).align("Explain tides.", GOAL, budget=budget, method=method))
    assert result.usage.policy_calls <= budget
    assert len(result.evaluated) == result.usage.policy_calls
    assert result.response is not None and result.chosen.evaluation is not None


def test_best_of_n_samples_one_prompt_with_distinct_seeds(hash_embedder):
    result = run(make(hash_embedder).align("Explain tides.", GOAL, budget=4, method="best_of_n"))
    prompts = {c.prompt for c in result.candidates}
    seeds = [c.evaluation.seed for c in result.candidates]
    assert len(prompts) == 1 and "Explain tides." in prompts.pop()
    assert len(set(seeds)) == 4
    assert result.usage.policy_calls == 4 and result.usage.optimizer_calls == 0


def words_policy(prompt: str, seed: int = 0) -> str:
    """Answers with the number of words a prompt names as 'words=N', else 20."""
    match = re.search(r"words=(\d+)", prompt)
    return " ".join(f"w{seed}" for _ in range(int(match.group(1)) if match else 20))


def test_greedy_answers_the_root_then_rewrites_the_best_prompt_so_far(hash_embedder):
    rewrites = ["Explain tides words=5.", "Explain tides words=40.", "Explain tides words=10."]
    aligner = make(hash_embedder, policy=words_policy, optimizer=_Sequence(rewrites))
    result = run(aligner.align("Explain tides.", GOAL, budget=4, method="greedy"))
    evaluated = result.evaluated
    assert evaluated[0].source == "seed" and evaluated[0].round == 0  # the root first
    assert [c.prompt for c in evaluated[1:]] == rewrites  # then one rewrite per round, in order
    # round 3's parent is the best so far: round 2's rewrite (40 words = 3.8, against the root's 1.8)
    assert evaluated[3].parent_id == evaluated[2].id and evaluated[2].parent_id == evaluated[0].id
    assert result.chosen.prompt == "Explain tides words=40."


def test_greedy_and_beam_at_budget_1_answer_the_root_like_best_of_n(hash_embedder):
    aligner = make(hash_embedder)
    answers = {m: run(aligner.align("Explain tides.", GOAL, budget=1, method=m)) for m in ("greedy", "beam", "best_of_n")}
    assert {r.chosen.prompt for r in answers.values()} == {answers["best_of_n"].candidates[0].prompt}
    assert {r.chosen.evaluation.seed for r in answers.values()} == {answers["best_of_n"].chosen.evaluation.seed}
    assert all(r.usage.optimizer_calls == 0 for r in answers.values())  # nothing left to spend on a rewrite


def test_beam_keeps_width_and_evaluates_every_expansion(hash_embedder):
    rewrites = [f"Explain tides words={n}." for n in (5, 40, 30, 12, 41, 3)]
    aligner = make(hash_embedder, policy=words_policy, optimizer=_Sequence(rewrites), beam_width=2, beam_expansions=2)
    result = run(aligner.align("Explain tides.", GOAL, budget=7, method="beam"))
    by_round = {}
    for c in result.evaluated:
        by_round.setdefault(c.round, []).append(c)
    assert [len(by_round[r]) for r in (0, 1, 2)] == [1, 2, 4]  # the root, its two rewrites, two each of the best two
    # the best two after round 1: the 40-word rewrite and the root (20 words); not the 5-word one
    assert {c.parent_id for c in by_round[2]} == {by_round[1][1].id, by_round[0][0].id}


def test_hia_at_budget_1_spends_its_call_on_the_root_when_no_rewrite_is_predicted_better(hash_embedder):
    # The root states verbosity 4 ("long and exhaustive"), which the heuristic predicts at 4: the goal.
    pool = ["Explain tides, short.", "Explain tides.", "Explain tides, please."]
    aligner = make(hash_embedder, optimizer=FixedOptimizer(pool), hia_candidates=3)
    result = run(aligner.align("Explain tides.", GOAL, budget=1, method="hia"))
    assert result.usage.policy_calls == 1
    assert result.chosen.source == "seed" and result.chosen.id == 0
    assert result.chosen.evaluation.seed == run(aligner.align("Explain tides.", GOAL, budget=1, method="best_of_n")).chosen.evaluation.seed
    assert {c.dropped_by for c in result.candidates if c.status == "dropped"} == {"stage2"}


def test_a_tie_at_the_cut_is_broken_by_the_documented_rule_not_by_order(hash_embedder):
    # 'long' is predicted 4, as is the root: a tie, and the heuristic gives no uncertainty, so the
    # hash of the prompt's text decides, whichever order the optimizer proposed them in.
    from hia.search.filters import tie_key

    chosen = set()
    for pool in (["Explain tides, short.", "Explain tides, long."], ["Explain tides, long.", "Explain tides, short."]):
        aligner = make(hash_embedder, optimizer=FixedOptimizer(pool), hia_candidates=2)
        result = run(aligner.align("Explain tides.", GOAL, budget=1, method="hia"))
        tied = [c for c in result.candidates if c.heuristic_reward == result.chosen.heuristic_reward]
        assert len(tied) == 2 and {c.source for c in tied} == {"seed", "optimizer"}
        assert result.chosen.prompt == min((c.prompt for c in tied), key=tie_key)
        chosen.add(result.chosen.prompt)
    assert len(chosen) == 1


def test_hia_pays_only_for_the_heuristic_favourite(hash_embedder):
    # verbosity 2: the root mentions "long" (predicted 4); the plain rewrite is predicted 2, the goal.
    pool = ["Explain tides, short.", "Explain tides, please.", "Explain tides, long."]
    aligner = make(hash_embedder, optimizer=FixedOptimizer(pool), hia_candidates=3)
    result = run(aligner.align("Explain tides.", "verbosity=2", budget=1, method="hia"))
    assert result.usage.policy_calls == 1
    assert result.chosen.prompt == "Explain tides, please."
    dropped = [c for c in result.candidates if c.status == "dropped"]
    assert len(dropped) == 3 and {c.dropped_by for c in dropped} == {"stage2"}  # the root among them
    assert any(c.source == "seed" for c in dropped)
    assert all(c.heuristic_reward is not None for c in dropped)


def test_hia_stage1_drops_before_stage2(hash_embedder):
    pool = ["", "Sure, here are tides explained: water moves.", "Explain tides, long.", "Explain tides, long."]
    aligner = make(hash_embedder, optimizer=FixedOptimizer(pool), hia_candidates=4)
    result = run(aligner.align("Explain tides.", GOAL, budget=1, method="hia_greedy"))
    reasons = {c.prompt: (c.dropped_by, c.reason) for c in result.candidates if c.status == "dropped"}
    assert reasons[""] == ("stage1", "empty")
    assert reasons["Sure, here are tides explained: water moves."][1].startswith("answers instead of asking")
    assert "near-duplicate" in [r for p, r in reasons.items() if p == "Explain tides, long."][0][1]


def test_hia_falls_back_to_a_template_when_the_optimizer_gives_nothing(hash_embedder):
    aligner = make(hash_embedder, optimizer=FixedOptimizer(["", " "]))
    result = run(aligner.align("Explain tides.", GOAL, budget=1, method="hia"))
    assert result.usage.policy_calls == 1
    assert {c.source for c in result.candidates} == {"seed", "template"}  # templates stood in for the optimizer
    assert any(e.type == "OptimizerError" for e in result.errors)


def test_many_concurrent_alignments_share_one_budget_without_overspending(hash_embedder):
    shared = Budget(37)
    calls = []

    async def slow_policy(prompt, seed=0):
        calls.append(seed)
        await asyncio.sleep(0.001 * (seed % 5))
        return echo_policy(prompt, seed)

    aligner = make(hash_embedder, policy=slow_policy)

    async def main():
        jobs = [aligner.align(f"Question {i}?", GOAL, budget=shared, method=METHODS[i % len(METHODS)])
                for i in range(60)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = run(main())
    assert len(calls) == shared.used == 37  # the whole budget went to the 60, and no more
    assert shared.reserved == 0
    # the alignments that got no call ran out of the shared budget, and nothing else went wrong
    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(f, BudgetExhausted) for f in failures), failures[:1]
    assert len(failures) == 60 - sum(1 for r in results if not isinstance(r, BaseException)) >= 60 - 37
    spent = sum(r.usage.policy_calls for r in results if not isinstance(r, BaseException))
    assert spent == len(calls)


def test_a_failing_policy_call_releases_its_unit_and_is_recorded(hash_embedder):
    state = {"n": 0}

    def flaky(prompt, seed=0):
        state["n"] += 1
        if state["n"] == 1:
            raise EndpointUnreachable("policy endpoint down")
        return echo_policy(prompt, seed)

    result = run(make(hash_embedder, policy=flaky).align("Explain tides.", GOAL, budget=2, method="greedy"))
    failed = [c for c in result.candidates if c.status == "failed"]
    assert len(failed) == 1 and failed[0].dropped_by == "error"
    assert result.usage.policy_calls == 2  # the failed call cost no unit
    assert result.errors[0].type == "EndpointUnreachable"


def test_when_nothing_answers_the_typed_error_is_raised_with_the_result(hash_embedder):
    def down(prompt):
        raise EndpointUnreachable("policy endpoint down")

    with pytest.raises(EndpointUnreachable) as info:
        run(make(hash_embedder, policy=down).align("Explain tides.", GOAL, budget=2, method="best_of_n"))
    assert len(info.value.result.candidates) == 2


def test_bad_inputs_fail_before_any_call(hash_embedder):
    aligner = make(hash_embedder)
    with pytest.raises(InputError, match="prompt is empty"):
        run(aligner.align("   ", GOAL))
    with pytest.raises(InputError, match="at least 1"):
        run(aligner.align("Hi?", GOAL, budget=0))
    with pytest.raises(InputError, match="unknown method"):
        run(aligner.align("Hi?", GOAL, method="mcts"))


def test_result_json_has_the_documented_keys(hash_embedder):
    result = run(make(hash_embedder).align("Explain tides.", GOAL, budget=2, method="hia"))
    data = result.to_dict()
    assert {"response", "method", "budget", "candidates", "usage"} <= set(data)
    assert {"policy_calls", "optimizer_calls", "prompt_tokens", "completion_tokens"} <= set(data["usage"])
    assert isinstance(data["candidates"], list) and len(data["candidates"]) == len(result.candidates)
    assert set(data["usage"]["stage_seconds"]) == {"optimize", "filter", "policy", "reward"}


class _Sequence(TemplateOptimizer):
    """Proposes the given rewrites one per call, in order."""

    def __init__(self, prompts):
        super().__init__()
        self.prompts = list(prompts)

    async def propose(self, prompt, goal, n, *, original=None, feedback=None, usage=None):
        return [self.prompts.pop(0) for _ in range(min(n, len(self.prompts)))]
