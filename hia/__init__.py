"""hia: heuristic-guided inference-time alignment of black-box chat models."""

from hia.core.attributes import Attribute, known_attributes, register_attribute
from hia.core.budget import Budget
from hia.core.goal import Goal
from hia.core.objectives import euclidean, goal_completion, max_error
from hia.core.results import AlignmentResult, Candidate, Evaluation
from hia.core.usage import Usage
from hia.engine.aligner import Aligner, AsyncAligner
from hia.engine.batch import BatchReport, align_many
from hia.engine.ray_runner import RayOptions
from hia.errors import (
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
    MissingExtra,
    OptimizerError,
    RetriesExhausted,
    RewardModelError,
    SharedStateUnavailable,
    UnjudgeableGoalWarning,
    WorkerLost,
)
from hia.models.optimizer import LLMOptimizer, PromptOptimizer, TemplateOptimizer
from hia.models.policy import AsyncChatPolicy, ChatPolicy
from hia.models.ratelimit import RateLimiter
from hia.rewards import (
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
from hia.rewards.shipped import default_reference
from hia.search import METHODS
from hia.search.filters import FilterSettings
from hia.search.options import SearchOptions
from hia.serving.protocol import KnobOptions
from hia.serving.wrapper import AlignedChatCompletion, wrap

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
    "LocalModelsUnavailable", "MissingExtra", "LocalServerError", "UnjudgeableGoalWarning", "ExactReference",
    "WorkerLost", "SharedStateUnavailable", "RateLimiter", "RayOptions", "SearchOptions", "align_many", "BatchReport", "KnobOptions",
]
