"""Errors as OpenAI-compatible servers send them: `{"error": {"message", "type", "param", "code"}}`,
with `code` a string or null, so the official clients raise the matching exception."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable

import openai
import pydantic
from starlette.responses import JSONResponse

from hia.errors import BudgetExhausted, EndpointError, GoalError, InputError, SharedStateUnavailable, redact
from hia.serving.spend import SpendLimitExceeded


class ProxyError(Exception):
    """A request the proxy answers with an error: status, OpenAI error type, code and message."""

    def __init__(self, status: int, kind: str, message: str, *, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.code, self.param = status, kind, code, param
        self.headers = headers or {}


def _upstream_message(exc: openai.APIStatusError) -> tuple[str, str | None, str | None]:
    """Message, type and code from an upstream error body, in whichever shape it came."""
    body = exc.body if isinstance(exc.body, dict) else {}
    detail = body.get("error", body)  # {"error": {...}}, or the fields at the top level
    if not isinstance(detail, dict):
        detail = {"message": detail}
    message = detail.get("message") or exc.message or "the upstream refused the request"
    code = detail.get("code")
    return str(message), detail.get("type"), None if code is None else str(code)


def as_proxy_error(exc: BaseException) -> ProxyError:
    """The answer for an exception raised while serving a request.

    The caller's mistakes are 4xx; an upstream's refusal keeps its status and reason (so a 404 for
    an unknown model stays a 404); an upstream that failed or timed out is a 502 or 504."""
    if isinstance(exc, ProxyError):
        return exc
    if isinstance(exc, json.JSONDecodeError):
        return ProxyError(400, "invalid_request_error", f"the request body is not valid JSON: {exc.msg}",
                          code="invalid_json")
    if isinstance(exc, RecursionError):
        return ProxyError(400, "invalid_request_error", "the request body is nested too deeply", code="invalid_json")
    if isinstance(exc, SharedStateUnavailable):
        return ProxyError(503, "service_unavailable", str(exc), code="shared_state_unavailable",
                          headers={"Retry-After": "1"})
    if isinstance(exc, GoalError):
        return ProxyError(400, "invalid_request_error", str(exc), code="invalid_goal", param="goal")
    if isinstance(exc, SpendLimitExceeded):
        wait = max(1, int(exc.resets_at - time.time()))
        return ProxyError(429, "budget_exceeded", str(exc), code="budget_exceeded", headers={"Retry-After": str(wait)})
    if isinstance(exc, BudgetExhausted):
        return ProxyError(429, "budget_exceeded", str(exc), code="budget_exceeded")
    if isinstance(exc, openai.APIStatusError):
        message, kind, code = _upstream_message(exc)
        return ProxyError(exc.status_code, kind or "upstream_error", f"upstream: {message}", code=code)
    if isinstance(exc, (openai.APITimeoutError, asyncio.TimeoutError)):
        return ProxyError(504, "timeout", "the upstream did not answer in time", code="upstream_timeout")
    if isinstance(exc, openai.APIConnectionError):
        return ProxyError(502, "upstream_error", "the upstream could not be reached", code="upstream_unavailable")
    if isinstance(exc, EndpointError):
        status = exc.status_code if exc.status_code and 400 <= exc.status_code < 500 else 502
        return ProxyError(status, "upstream_error", str(exc), code="upstream_error")
    if isinstance(exc, pydantic.ValidationError):  # a reply hia built or read wrongly: not the caller's fault
        return ProxyError(500, "server_error", "the proxy built an invalid reply", code="internal_error")
    if isinstance(exc, (InputError, ValueError, TypeError)):
        code = "unknown_method" if "unknown method" in str(exc) else "invalid_request"
        return ProxyError(400, "invalid_request_error", str(exc), code=code,
                          param="method" if code == "unknown_method" else None)
    return ProxyError(500, "server_error", f"{type(exc).__name__}: the proxy failed", code="internal_error")


def error_body(error: ProxyError, secrets: Iterable[str | None]) -> dict:
    return {"error": {"message": redact(str(error), secrets), "type": error.kind, "param": error.param,
                      "code": error.code}}


def error_response(error: ProxyError, secrets: Iterable[str | None], headers: dict[str, str] | None = None
                   ) -> JSONResponse:
    return JSONResponse(error_body(error, secrets), status_code=error.status, headers={**error.headers, **(headers or {})})
