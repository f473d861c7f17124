"""Typed errors. Every error hia raises on purpose is a HiaError.

Each message names what is wrong and how to fix it. None of them ever contains an API key:
endpoint errors are built from the status code and an excerpt of the body that went through
`redact`, the one function every text from an upstream passes before it reaches an error, a log,
a result or a response.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

REDACTED = "[redacted]"
_BEARER = re.compile(r"(?i)\bbearer\s+[^\s\"',;]+")  # Authorization: Bearer <token>
_KEY_SHAPED = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-]{8,}")  # OpenAI-style keys
# the value of a key/token/secret field ("api_key": "...", token=...)
_FIELD = re.compile(r"(?i)((?:api[_-]?key|authorization|token|secret|password)[\"']?\s*[:=]\s*[\"']?)"
                    r"(?!bearer\b|\[redacted\])[^\s\"',}]+")
# a long hex or base64-like word just after "key", "token" or "secret" ("bad key f3a9c2e1...")
_AFTER_WORD = re.compile(r"(?i)\b((?:api[_-]?)?key|token|secret|password)(\W{1,3}|\s+is\s+)(?!\[redacted\])"
                         r"([A-Za-z0-9+/_\-.]{20,}=*)")
_FIELD_WORDS = ("key", "token", "secret", "password", "authorization")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/@:]+:[^\s/@]+@")  # scheme://user:pass@host


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with the given secrets (the key in use, a bearer token) removed as values, and by
    shape: bearer tokens, `sk-` keys, the values of key/token/secret fields, long hex or base64-like
    words after "key", "token" or "secret", and credentials in URLs; each becomes [redacted]."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    # Every answer passes here: a pattern runs only where its trigger word could match at all.
    lower = text.lower()
    if "bearer" in lower:
        text = _BEARER.sub(f"Bearer {REDACTED}", text)
    if "k-" in lower:
        text = _KEY_SHAPED.sub(REDACTED, text)
    if any(word in lower for word in _FIELD_WORDS):
        text = _FIELD.sub(lambda m: m.group(1) + REDACTED, text)
        text = _AFTER_WORD.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    if "://" in text and "@" in text:
        text = _URL_CREDENTIALS.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return text


class HiaError(Exception):
    """Base class of every error hia raises on purpose.

    An error that ends an alignment carries the work paid for before it as `result` (an
    AlignmentResult: every candidate, answer and score so far); otherwise `result` is None."""

    result: Any = None  # an AlignmentResult; typed loosely so that errors import nothing above them


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


class MissingExtra(HiaError, ImportError):
    """A feature needs packages of an optional extra that is not installed; the message names it."""


class LocalServerError(HiaError):
    """A managed local llama.cpp server failed to start or died."""


class SharedStateUnavailable(HiaError):
    """The Redis that replicas share their limits through cannot be reached: the request is refused
    (503), never served unmetered."""


class WorkerLost(HiaError):
    """A batch item's Ray workers kept dying before it finished; its paid answers are journaled."""


class UnjudgeableGoalWarning(UserWarning):
    """A goal names an attribute the reference in use was measured unable to judge: answers would be
    chosen on noise for it. Issued once per goal and reference."""


def check_type(name: str, value: object, kind: type | tuple[type, ...], wanted: str) -> None:
    """A constructor argument of the wrong type is refused where it is given, not at the first
    request it breaks (None means the default and always passes)."""
    if value is not None and not isinstance(value, kind):
        raise InputError(f"{name} must be {wanted}, got {type(value).__name__} {value!r:.60}")
