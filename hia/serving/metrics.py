"""The proxy's Prometheus metrics (prometheus-client), served at GET /metrics.

Each app has its own registry, so two proxies in one process (tests, a program embedding them)
count apart. Everything is counted from what a request already carries: its route and status,
the AlignmentResult of an aligned request (calls by role, retries, failures, stage times, the
budget given and spent) and the error an upstream answered with. No label holds a key or any
text of a request; `user` labels appear only for users with a profile that limits them.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401 - the route's media type
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from hia.core.usage import ROLES, STAGES

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)


class ProxyMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("hia_requests", "Requests answered, by route and HTTP status", ["route", "status"],
                                registry=registry)
        self.latency = Histogram("hia_request_seconds", "Time to answer a request, by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=registry)
        self.alignments = Counter("hia_alignments", "Aligned requests, by search method and outcome",
                                  ["method", "outcome"], registry=registry)
        self.calls = Counter("hia_calls", "Calls that returned an answer, by role (policy, optimizer, judge)", ["role"],
                             registry=registry)
        self.retries = Counter("hia_retries", "Transport retries, by role", ["role"], registry=registry)
        self.failures = Counter("hia_call_failures", "Calls that failed for good, by role", ["role"], registry=registry)
        self.tokens = Counter("hia_tokens", "Tokens of every call, by role and kind (prompt, completion)",
                              ["role", "kind"], registry=registry)
        self.budget_given = Counter("hia_budget_given_calls", "Policy calls the aligned requests were allowed",
                                    registry=registry)
        self.budget_spent = Counter("hia_budget_spent_calls", "Policy calls the aligned requests spent",
                                    registry=registry)
        self.stage = Histogram("hia_stage_seconds", "Time an alignment spent in each stage", ["stage"],
                               buckets=LATENCY_BUCKETS, registry=registry)
        self.upstream_errors = Counter("hia_upstream_errors", "Requests that failed on the upstream, by kind",
                                       ["kind"], registry=registry)
        self.user_spent = Gauge("hia_user_daily_calls_spent", "Policy calls a limited user spent today (UTC)",
                                ["user"], registry=registry)
        self.user_limit = Gauge("hia_user_daily_calls_limit", "A limited user's daily policy calls", ["user"],
                                registry=registry)
        for role in ROLES:  # present from the start, so a dashboard's rate() has a zero to begin from
            for counter in (self.calls, self.retries, self.failures):
                counter.labels(role)

    def request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def alignment(self, result: Any, outcome: str) -> None:
        """What one aligned request spent (its AlignmentResult), whether it succeeded or failed."""
        self.alignments.labels(result.method, outcome).inc()
        self.budget_given.inc(result.budget)
        usage = result.usage
        self.budget_spent.inc(usage.policy_calls)
        for role, spent in usage.roles.items():
            self.calls.labels(role).inc(spent.calls)
            self.retries.labels(role).inc(spent.retries)
            self.failures.labels(role).inc(spent.failures)
            self.tokens.labels(role, "prompt").inc(spent.prompt_tokens)
            self.tokens.labels(role, "completion").inc(spent.completion_tokens)
        for stage in STAGES:
            self.stage.labels(stage).observe(usage.stage_seconds.get(stage, 0.0))

    def upstream_error(self, kind: str) -> None:
        self.upstream_errors.labels(kind).inc()

    def user_spend(self, user: str, spent: int, limit: int) -> None:
        self.user_spent.labels(user).set(spent)
        self.user_limit.labels(user).set(limit)

    def text(self) -> bytes:
        return generate_latest(self.registry)
