"""Typed errors. Every error hia raises on purpose is a HiaError.

Each message names what is wrong and how to fix it. None of them ever contains an API key:
endpoint errors are built from the status code and a redacted excerpt of the body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import AlignmentResult


class HiaError(Exception):
    """Base class of every error hia raises on purpose.

    An error that ends an alignment carries the work paid for before it as `result` (an
    AlignmentResult: every candidate, answer and score so far); otherwise `result` is None."""

    result: AlignmentResult | None = None


class GoalError(HiaError, ValueError):
    """A goal is malformed: unknown attribute, target out of range, NaN, bad syntax."""


class InputError(HiaError, ValueError):
    """A prompt, budget or option is unusable as given."""


class BudgetExhausted(HiaError):
    """No policy call is left in the budget."""


class EndpointError(HiaError):
    """An OpenAI-compatible endpoint failed in a way retries did not fix."""

    def __init__(self, message: str, *, role: str = "policy", status_code: int | None = None):
        super().__init__(message)
        self.role = role
        self.status_code = status_code


class EndpointUnreachable(EndpointError):
    """Nothing answered at the endpoint's address."""


class AuthenticationFailed(EndpointError):
    """The endpoint refused the API key (401/403)."""


class ContextLengthExceeded(EndpointError, InputError):
    """The prompt does not fit in the model's context window."""


class RetriesExhausted(EndpointError):
    """A call kept failing with retryable errors (429, 5xx, timeouts) until retries ran out."""


class OptimizerError(HiaError):
    """The prompt optimizer returned nothing usable."""


class RewardModelError(HiaError):
    """A reward model returned NaN or the wrong shape, or its file is corrupt."""


class DataError(HiaError, ValueError):
    """A data file or row is malformed; the message names the file, the line and the problem."""


class LocalModelsUnavailable(HiaError):
    """The embedded local models (the `local` extra) are not installed or cannot be found."""


class LocalServerError(HiaError):
    """A managed local llama.cpp server failed to start or died."""


class UnjudgeableGoalWarning(UserWarning):
    """A goal names an attribute the reference in use was measured unable to judge: answers would be
    chosen on noise for it. Issued once per goal and reference."""
