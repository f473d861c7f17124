"""Reward models: heuristic (prompt -> predicted scores) and reference (prompt, response -> scores)."""

from .base import HeuristicRewardModel, ReferenceRewardModel, check_scores
from .embeddings import Embedder
from .heuristic import ZeroShotHeuristic
from .judge import LLMJudge

__all__ = ["HeuristicRewardModel", "ReferenceRewardModel", "check_scores", "Embedder", "ZeroShotHeuristic", "LLMJudge"]
