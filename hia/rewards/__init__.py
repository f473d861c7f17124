"""Reward models: heuristic (prompt -> predicted scores) and reference (prompt, response -> scores)."""

from .attribute_model import AttributeModel
from .base import HeuristicRewardModel, ReferenceRewardModel, check_scores
from .composite import CompositeReference
from .embeddings import Embedder
from .exact import ExactReference
from .heuristic import ZeroShotHeuristic
from .judge import LLMJudge
from .learned import LearnedHeuristic
from .preference import CommunityPreferenceModel
from .transformers_rm import TransformersRewardModel

__all__ = ["HeuristicRewardModel", "ReferenceRewardModel", "check_scores", "Embedder", "ZeroShotHeuristic",
           "LearnedHeuristic", "LLMJudge", "AttributeModel", "CommunityPreferenceModel", "TransformersRewardModel",
           "CompositeReference", "ExactReference"]
