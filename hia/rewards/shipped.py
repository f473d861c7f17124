"""The reward models that ship with hia, as files under hia/rewards/weights/."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hia.models.embeddings import Embedder
from hia.rewards.attribute_model import AttributeModel
from hia.rewards.policy_heuristic import PolicyHeuristic
from hia.rewards.policy_memory import PolicyMemory
from hia.rewards.prior import QuestionPrior

DEFAULT_REFERENCE_FILE = "helpsteer_reference.json"
QUESTION_PRIOR_FILE = "question_prior.json"


def shipped_file(name: str) -> Path:
    """The path of a model file shipped with hia."""
    return Path(str(resources.files("hia.rewards") / "weights" / name))


def packaged_reference_path() -> Path:
    """The attribute model shipped with hia (trained on the 500-row HelpSteer sample)."""
    return shipped_file(DEFAULT_REFERENCE_FILE)


def default_reference(path: str | Path | None = None) -> AttributeModel:
    """The trained HelpSteer attribute model: `path`, or the one shipped with hia."""
    return AttributeModel.load(path or packaged_reference_path())


def shipped_prior() -> QuestionPrior:
    """The question prior shipped with hia (`hia train-prior` on the development prompts of the
    local HelpSteer files; its metadata says which and how well it predicts)."""
    return QuestionPrior.load(shipped_file(QUESTION_PRIOR_FILE))


def default_heuristic(embedder: Embedder | None = None, memory: PolicyMemory | None = None) -> PolicyHeuristic:
    """The heuristic stage 2 uses unless told otherwise: the shipped prior, learning the policy."""
    return PolicyHeuristic(shipped_prior(), embedder=embedder, memory=memory)
