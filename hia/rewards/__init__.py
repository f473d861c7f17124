"""Reward models: heuristic (prompt -> predicted scores) and reference (prompt, response -> scores)."""

from hia.models.embeddings import Embedder
from hia.rewards.attribute_model import AttributeModel
from hia.rewards.base import HeuristicRewardModel, ReferenceRewardModel, check_scores
from hia.rewards.composite import CompositeReference
from hia.rewards.exact import ExactReference
from hia.rewards.heuristic import ZeroShotHeuristic
from hia.rewards.judge import LLMJudge
from hia.rewards.learned import LearnedHeuristic
from hia.rewards.preference import CommunityPreferenceModel
from hia.rewards.transformers_rm import TransformersRewardModel

__all__ = ["HeuristicRewardModel", "ReferenceRewardModel", "check_scores", "Embedder", "ZeroShotHeuristic",
           "LearnedHeuristic", "LLMJudge", "AttributeModel", "CommunityPreferenceModel", "TransformersRewardModel",
           "CompositeReference", "ExactReference"]
