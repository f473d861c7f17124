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
    SearchOptions,
    TemplateOptimizer,
    align_many,
)
from hia.models.local import free_port
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


# -- the rows added for budgets, inputs and secrets (tests/test_limits.py covers the budget rows) --

def test_search_sizes_below_one():
    with pytest.raises(InputError, match="beam_width must be a whole number of at least 1"):
        AsyncAligner(echo_policy, LengthReference(), options=SearchOptions(beam_width=0))


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": float("nan")}, "temperature must be a number from 0 to 2"),
    ({"temperature": 3}, "temperature must be a number from 0 to 2"),
    ({"max_tokens": -5}, "max_tokens must be a whole number of at least 1"),
])
def test_policy_sampling_out_of_range(kwargs, message):
    with pytest.raises(InputError, match=message):
        AsyncChatPolicy("m", base_url="http://127.0.0.1:9/v1", **kwargs)


def test_prompt_that_is_not_utf8():
    with pytest.raises(InputError, match="not valid UTF-8"):
        align(make(), prompt="Why is the sky \udcff blue?")


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/v1", "127.0.0.1:8000/v1"])
def test_endpoint_url_that_is_not_http(url):
    from hia.serving import ProxyServer

    with pytest.raises(InputError, match="is not an http\\(s\\) URL"):
        ProxyServer(upstream_url=url, model="m")


def test_cache_db_or_output_that_is_a_folder_or_not_sqlite(tmp_path):
    from hia.build import Settings, build
    from hia.serving.profiles import ProfileStore
    from hia.storage.cache import Cache

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"\x00\xffnot a database" * 100)
    with pytest.raises(InputError, match="is a folder"):
        build(Settings(cache_file=str(tmp_path)))
    with pytest.raises(InputError, match="--cache-file .* cannot be used"):
        Cache(garbage)
    with pytest.raises(InputError, match="--db .* cannot be used as the profiles database"):
        ProfileStore(garbage)
    with pytest.raises(InputError, match="is a folder"):
        asyncio.run(align_many(make(), [{"id": 1, "prompt": "Why?", "goal": "verbosity=1"}], output=tmp_path,
                                      progress=False))


def test_second_batch_run_on_the_same_output(tmp_path):
    from hia.storage.jsonl import JsonlWriter

    out = tmp_path / "out.jsonl"
    first = JsonlWriter(out)
    try:
        with pytest.raises(InputError, match=r"another run \(process \d+\) is writing"):
            asyncio.run(align_many(make(), [{"id": 1, "prompt": "Why?", "goal": "verbosity=1"}], output=out,
                                          progress=False))
    finally:
        first.close()
    report = asyncio.run(align_many(make(), [{"id": 1, "prompt": "Why?", "goal": "verbosity=1"}], output=out,
                                           progress=False))
    assert report.done == 1  # once the first run let go, the file is free


@pytest.mark.parametrize("folds", [0, 1, 10_000])
def test_folds_out_of_range(folds, tmp_path):
    from hia.training.reference import train_reference

    data = tmp_path / "rated.jsonl"
    data.write_text("".join(
        '{"prompt": "p%d", "response": "r %d", "helpfulness": 2, "correctness": 2, "coherence": 3, '
        '"complexity": 1, "verbosity": %d}\n' % (i % 7, i, i % 4) for i in range(40)))
    with pytest.raises(InputError, match="folds must be a whole number from 2 to the number of distinct prompts \\(7\\)"):
        train_reference(data, folds=folds)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00binary" * 50])
def test_empty_or_binary_data_file(content, tmp_path):
    from hia.data import DataError, load_helpsteer

    path = tmp_path / "data.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=str(path)):
        load_helpsteer(path)


@pytest.mark.parametrize("kwargs, message", [
    ({"messages": ["x"]}, "messages must be a non-empty list of objects"),
    ({"messages": [{"role": "user", "content": "Why?"}], "seed": "x"}, "seed must be a whole number"),
    ({"messages": [{"role": "user", "content": "Why?"}], "n": 3}, "n=3 cannot be honoured with a goal"),
    ({"messages": [{"role": "user", "content": "Why?"}], "tools": [{"type": "function"}]}, "tools cannot be honoured"),
    ({"messages": [{"role": "user", "content": "Why?"}], "response_format": {"type": "json_object"}},
     "response_format cannot be honoured"),
    ({"messages": [{"role": "user", "content": "Why?"}], "functions": [{"name": "f"}]}, "functions cannot be honoured"),
    ({"messages": [{"role": "user", "content": "Why?"}], "function_call": "auto"}, "function_call cannot be honoured"),
    ({"messages": [{"role": "user", "content": "Why?"}], "top_p": 7}, "top_p must be a number from 0 to 1"),
    ({"messages": [{"role": "user", "content": "Why?"}], "temperature": "hot"}, "temperature must be a number"),
    ({"messages": [{"role": "user", "content": "Why?"}], "max_tokens": 10**12}, "max_tokens must be a whole number"),
    ({"messages": [{"role": "user", "content": "Why?"}], "max_completion_tokens": -3},
     "max_completion_tokens must be a whole number"),
])
def test_request_options_the_wrapper_cannot_honour(kwargs, message):
    from hia.serving.protocol import ChatRequest

    with pytest.raises(InputError, match=message):
        ChatRequest.parse({"model": "m", "extra_body": {"goal": "verbosity=1"}, **kwargs})


@pytest.mark.parametrize("token", ["x", "short-token", "a token with spaces in it", "jeton-très-secret-1234"])
def test_weak_serve_token(token):
    from hia.serving import ProxyServer

    with pytest.raises(InputError, match="at least 16 printable ASCII characters with no spaces"):
        ProxyServer(upstream_url="http://127.0.0.1:9/v1", model="m", token=token)


@pytest.mark.parametrize("kwargs, message", [
    ({"budget": 2}, "budget given without a goal"),
    ({"method": "hia", "objective": "max_error"}, "method, objective given without a goal"),
    ({"goal": " "}, "the goal is empty"),
    ({"goal": {"verbosity": True}}, "target for 'verbosity' must be a number"),
])
def test_alignment_fields_that_align_nothing_are_refused_not_passed_through(kwargs, message):
    from hia.serving.protocol import ChatRequest

    with pytest.raises(InputError if "goal" not in kwargs or kwargs["goal"] == " " else GoalError, match=message):
        ChatRequest.parse({"model": "m", "messages": [{"role": "user", "content": "Why?"}], "extra_body": kwargs})


@pytest.mark.parametrize("kwargs, message", [
    ({"base_url": "ftp://example.com/v1"}, "not an http\\(s\\) URL"),
    ({"base_url": "http://127.0.0.1:99999/v1"}, "valid port"),
    ({"timeout": 0}, "timeout must be a positive number"),
    ({"max_retries": -1}, "max_retries must be a whole number of at least 0"),
])
def test_chat_policy_checks_its_endpoint_at_the_door(kwargs, message):
    from hia import ChatPolicy

    with pytest.raises(InputError, match=message):
        ChatPolicy("m", **kwargs)


@pytest.mark.parametrize("port", [70000, -1, True])
def test_a_port_out_of_range_is_refused(port):
    from hia.serving import ProxyServer

    with pytest.raises(InputError, match="port must be a whole number from 0 to 65535"):
        ProxyServer(upstream_url="http://127.0.0.1:9/v1", model="m", port=port)


def test_port_already_in_use():
    import socket

    from hia.serving import ProxyServer

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            ProxyServer(upstream_url="http://127.0.0.1:9/v1", model="m", port=port).start()


def test_malformed_replies_are_counted_beside_the_budget():
    with LoopbackServer(script=["malformed", "malformed", "ok"]) as server:
        policy = AsyncChatPolicy("m", base_url=server.base_url, max_tokens=4, retry_initial_wait=0.001,
                                 retry_max_wait=0.01)
        result = align(make(policy), budget=1, method="best_of_n")
    assert result.usage.policy_calls == 1 and result.usage.malformed == 2
    assert result.to_dict()["usage"]["malformed_replies"] == 2


def test_model_output_that_is_a_folder(tmp_path, capsys):
    from hia.cli import main

    assert main(["train-reference", "--data", str(tmp_path / "never-read.jsonl"), "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file path for the model" in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    ({"method": "hia_turbo"}, "unknown method"),
    ({"objective": "closest"}, "unknown objective"),
    ({"seed": 1.5}, "seed must be a whole number"),
    ({"online_learning": "yes"}, "online_learning must be True or False"),
    ({"resample": 1}, "resample must be True or False"),
    ({"max_budget": 0}, "max_budget"),
])
def test_search_options_refuse_what_no_search_can_use(options, message):
    with pytest.raises(InputError, match=message):
        SearchOptions(**options)


def test_the_aligner_takes_its_options_and_turns_whole():
    with pytest.raises(InputError, match="options must be a hia.SearchOptions"):
        AsyncAligner(echo_policy, LengthReference(), options={"method": "hia"})
    with pytest.raises(InputError, match="filters must be a hia.FilterSettings"):
        AsyncAligner(echo_policy, LengthReference(), filters={"drift_similarity": 0.5})
    for messages in ("hi", [{"role": "system", "content": "x"}, "hi"]):
        with pytest.raises(InputError, match="messages must be a list"):
            asyncio.run(make().align("Why?", "verbosity=1", budget=1, messages=messages))


def test_an_int_shared_budget_is_refused_not_made_a_per_item_budget(tmp_path):
    calls = []

    def policy(prompt, seed=0):
        calls.append(prompt)
        return "an answer"

    items = [{"id": i, "prompt": f"Why {i}?", "goal": "verbosity=1"} for i in range(3)]
    with pytest.raises(InputError, match=r"shared_budget is one hia.Budget"):
        asyncio.run(align_many(make(policy), items, output=tmp_path / "out.jsonl", shared_budget=4, progress=False))
    assert calls == [] and not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("item, message", [
    ({"id": 1, "goal": "verbosity=1"}, "batch item 0 \\(id 1\\) has no prompt"),
    ({"id": 1, "prompt": "Hi?"}, "has no goal"),
    ("hello", "batch item 0 is str"),
    (None, "batch item 0 is NoneType"),
    ({"prompt": 5, "goal": "verbosity=1"}, "'prompt' must be text"),
])
def test_batch_items_that_are_not_items_are_refused_by_position(item, message, tmp_path):
    aligner = AsyncAligner(lambda p: "x", LengthReference(), optimizer=TemplateOptimizer(), heuristic=KeywordHeuristic(),
                           embedder=HashEmbedder())
    with pytest.raises(InputError, match=message):
        asyncio.run(align_many(aligner, [item], output=tmp_path / "o.jsonl", progress=False))
    assert not (tmp_path / "o.jsonl").exists() or not (tmp_path / "o.jsonl").read_text()


def test_ray_options_refuse_an_address_that_is_none_and_more_workers_than_the_cores_can_feed(monkeypatch):
    from hia import RayOptions

    with pytest.raises(InputError, match="a Ray address is 'auto', 'local', host:port or ray://host:port"):
        RayOptions(address="garbage")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    with pytest.raises(InputError, match="6 workers on a local cluster of 2 cores"):
        RayOptions(workers=6)
    assert RayOptions(workers=4).workers == 4 and RayOptions(address="ray://10.0.0.1:10001", workers=64).workers == 64


@pytest.mark.parametrize("option", ["--rewrites", "--policy-calls", "--train-prompts"])
def test_calibrate_refuses_zero_of_anything_before_any_call(option, tmp_path, capsys):
    from hia.cli import main

    code = main(["calibrate", "--data", str(tmp_path / "h.jsonl"), option, "0", "--out", str(tmp_path / "h.json"),
                 "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
    assert code == 2 and f"{option} must be at least 1, got 0" in capsys.readouterr().err


def test_a_file_named_parquet_that_is_not_parquet_is_a_data_error(tmp_path):
    from hia.data import load_helpsteer
    from hia.errors import DataError

    path = tmp_path / "rows.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable parquet file"):
        load_helpsteer(path)


def test_a_trace_that_is_the_profiles_database_is_refused(tmp_path):
    from hia.serving import ProxyServer
    from hia.serving.profiles import ProfileStore

    with ProfileStore(tmp_path / "profiles.sqlite") as store:
        store.set("ana", "verbosity=1")
        with pytest.raises(InputError, match="--trace .* is the input"):
            ProxyServer(upstream_url="http://127.0.0.1:9/v1", model="m", profiles=store, trace=tmp_path / "profiles.sqlite")
        assert store.get("ana") is not None  # the database is untouched


RAY_JOIN = """
import asyncio, sys
from hia import AsyncChatPolicy, RayOptions, align_many
from hia.build import Settings, build
from hia.errors import HiaError
aligner = build(Settings(reference="exact")).async_aligner(AsyncChatPolicy("m", base_url="http://127.0.0.1:9/v1", api_key="k"))
try:
    asyncio.run(align_many(aligner, [{"prompt": "Why?", "goal": "verbosity=1"}], output=sys.argv[2], engine="ray",
                           ray=RayOptions(address=sys.argv[1]), progress=False))
except HiaError as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.parametrize("address, expected", [
    ("ray://127.0.0.1:10001", "MissingExtra joining ray://127.0.0.1:10001 goes through Ray Client"),
])
def test_joining_a_ray_cluster_that_cannot_be_joined_is_a_typed_error(tmp_path, address, expected):
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("grpc") is not None:
        pytest.skip("ray[client] is installed here: a ray:// address would be tried for real")
    # its own process: a Ray already started by another test would make ray.init() ignore the address
    out = subprocess.run([sys.executable, "-c", RAY_JOIN, address, str(tmp_path / "o.jsonl")], capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.startswith(expected), out.stdout + out.stderr[-2000:]
