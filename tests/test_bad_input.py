"""One test per row of docs/errors.md."""

import asyncio

import numpy as np
import pytest

from hia import (
    AsyncAligner,
    AsyncChatPolicy,
    AuthenticationFailed,
    ContextLengthExceeded,
    EndpointUnreachable,
    FilterSettings,
    GoalError,
    InputError,
    RewardModelError,
    TemplateOptimizer,
)
from hia.local import free_port
from hia.rewards.base import ReferenceRewardModel
from tests.support.loopback import LoopbackServer

from .fakes import (
    FixedOptimizer,
    HashEmbedder,
    KeywordHeuristic,
    LengthReference,
    echo_policy,
)


def make(policy=echo_policy, reference=None, optimizer=None, heuristic=None):
    return AsyncAligner(policy, reference or LengthReference(), optimizer=optimizer or TemplateOptimizer(),
                        heuristic=heuristic or KeywordHeuristic(), embedder=HashEmbedder(),
                        filters=FilterSettings(drift_similarity=-1.0))


def align(aligner, prompt="Why is the sky blue?", goal="verbosity=2", **kw):
    return asyncio.run(aligner.align(prompt, goal, **kw))


def http_policy(server_or_url, **kw):
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    return AsyncChatPolicy("m", base_url=url, max_tokens=5, max_retries=1, retry_initial_wait=0.001, **kw)


def test_unknown_attribute():
    with pytest.raises(GoalError, match="unknown attribute 'niceness'"):
        align(make(), goal="niceness=3")


def test_target_out_of_range():
    with pytest.raises(GoalError, match="outside its range 0..4"):
        align(make(), goal={"verbosity": 9})


def test_nan_target():
    with pytest.raises(GoalError, match="finite"):
        align(make(), goal={"verbosity": float("nan")})


@pytest.mark.parametrize("goal", ["verbosity", "=3", "verbosity=3,verbosity=1", "verbosity=3;complexity=1"])
def test_malformed_goal_string(goal):
    with pytest.raises(GoalError):
        align(make(), goal=goal)


def test_empty_prompt():
    with pytest.raises(InputError, match="prompt is empty"):
        align(make(), prompt=" \n ")


@pytest.mark.parametrize("budget", [0, -3, 2.5])
def test_budget_below_one(budget):
    with pytest.raises(InputError, match="budget"):
        align(make(), budget=budget)


def test_prompt_longer_than_the_policy_context():
    with LoopbackServer(context_words=50) as server:
        with pytest.raises(ContextLengthExceeded, match="context window") as info:
            align(make(http_policy(server)), prompt="word " * 200, method="best_of_n", budget=2)
        assert server.outcomes["too_long"] == 2  # one per planned call: not retried
        assert isinstance(info.value, InputError)


class _BadReference(ReferenceRewardModel):
    def __init__(self, output):
        self.output = output

    def score(self, prompts, responses, attributes, *, usage=None):
        return self.output(len(responses), len(attributes))


def test_reference_returns_nan():
    result = align(make(reference=_BadReference(lambda n, k: np.full((n, k), np.nan))), method="best_of_n")
    assert result.response is not None  # the answers paid for are kept
    assert [e.type for e in result.errors] == ["RewardModelError"] and "non-finite" in result.errors[0].message


def test_reference_returns_the_wrong_shape():
    result = align(make(reference=_BadReference(lambda n, k: np.zeros((n + 1, k)))), method="best_of_n")
    assert result.errors[0].type == "RewardModelError" and "shape" in result.errors[0].message


def test_heuristic_returns_nan():
    class NaNHeuristic(KeywordHeuristic):
        def predict(self, prompts, attributes):
            return np.full((len(prompts), len(attributes)), np.nan)

    with pytest.raises(RewardModelError, match="non-finite") as info:
        align(make(heuristic=NaNHeuristic()), method="hia")
    assert info.value.result.candidates  # the optimizer's work is kept with the error


def test_optimizer_returns_nothing_usable():
    result = align(make(optimizer=FixedOptimizer(["", "   "])), method="hia", budget=1)
    assert result.response is not None and result.chosen.source == "template"
    assert any(e.type == "OptimizerError" for e in result.errors)


def test_unreachable_endpoint():
    with pytest.raises(EndpointUnreachable, match="could not be reached") as info:
        align(make(http_policy(f"http://127.0.0.1:{free_port()}/v1")), method="best_of_n", budget=1)
    assert info.value.result.usage.policy_calls == 0


def test_wrong_api_key():
    key = "sk-wrong-PLANTED-0000111122223333"
    with LoopbackServer(api_key="sk-right") as server:
        with pytest.raises(AuthenticationFailed, match="refused the API key") as info:
            align(make(http_policy(server, api_key=key)), method="best_of_n", budget=1)
        assert server.outcomes["unauthorised"] == 1  # not retried
    assert key not in str(info.value)  # the server echoed it; hia does not
