"""hia: heuristic-guided inference-time alignment of black-box chat models."""

from .aligner import Aligner, AsyncAligner
from .attributes import Attribute, known_attributes, register_attribute
from .budget import Budget
from .client import AlignedChatCompletion, wrap
from .errors import (
    AuthenticationFailed,
    BudgetExhausted,
    ContextLengthExceeded,
    EndpointError,
    EndpointUnreachable,
    GoalError,
    HiaError,
    InputError,
    LocalModelsUnavailable,
    LocalServerError,
    OptimizerError,
    RetriesExhausted,
    RewardModelError,
    UnjudgeableGoalWarning,
    WorkerLost,
)
from .goal import Goal
from .objectives import euclidean, goal_completion, max_error
from .optimizer import LLMOptimizer, PromptOptimizer, TemplateOptimizer
from .policy import AsyncChatPolicy, ChatPolicy
from .ratelimit import RateLimiter
from .ray_engine import RayOptions
from .rewards import (
    AttributeModel,
    CommunityPreferenceModel,
    CompositeReference,
    Embedder,
    ExactReference,
    HeuristicRewardModel,
    LearnedHeuristic,
    LLMJudge,
    ReferenceRewardModel,
    TransformersRewardModel,
    ZeroShotHeuristic,
)
from .search import METHODS
from .search.filters import FilterSettings
from .training import default_reference
from .types import AlignmentResult, Candidate, Evaluation
from .usage import Usage

__version__ = "0.1.0"

__all__ = [
    "Aligner", "AsyncAligner", "AlignmentResult", "Candidate", "Evaluation", "Usage", "Budget", "Goal",
    "Attribute", "register_attribute", "known_attributes", "euclidean", "max_error", "goal_completion",
    "ChatPolicy", "AsyncChatPolicy", "PromptOptimizer", "LLMOptimizer", "TemplateOptimizer",
    "HeuristicRewardModel", "ReferenceRewardModel", "ZeroShotHeuristic", "LearnedHeuristic", "LLMJudge",
    "AttributeModel", "CommunityPreferenceModel", "TransformersRewardModel", "CompositeReference", "Embedder",
    "FilterSettings", "METHODS", "wrap", "AlignedChatCompletion", "default_reference",
    "HiaError", "GoalError", "InputError", "BudgetExhausted", "EndpointError", "EndpointUnreachable",
    "AuthenticationFailed", "ContextLengthExceeded", "RetriesExhausted", "OptimizerError", "RewardModelError",
    "LocalModelsUnavailable", "LocalServerError", "UnjudgeableGoalWarning", "ExactReference",
    "WorkerLost", "RateLimiter", "RayOptions",
]
