"""`hia serve` (the OpenAI-compatible proxy) and `hia profiles` (the goal profiles it uses)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from hia import _defaults as D
from hia.cli._common import add_endpoint_args, add_pipeline_args, endpoints, settings_from
from hia.errors import HiaError
from hia.search import METHODS


def _add_serve(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="run an OpenAI-compatible proxy that aligns answers",
                       description="Serve /v1/chat/completions, /v1/models, /health and /ready. Requests with a goal (extra_body, "
                                   "X-HIA-Goal header, or the `user`'s profile) are aligned; others pass through. "
                                   "Without --upstream it serves the embedded local models.")
    add_endpoint_args(p)
    add_pipeline_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind; any but loopback needs a token")
    p.add_argument("--port", type=int, default=D.SERVE_PORT)
    p.add_argument("--token-env", default="HIA_SERVE_TOKEN", help="environment variable holding the bearer token clients must send")
    p.add_argument("--profiles", help="profiles SQLite file (default: ~/.cache/hia/profiles.sqlite or $HIA_PROFILES_DB)")
    p.add_argument("--max-body-bytes", type=int, default=D.SERVE_MAX_BODY_BYTES,
                   help="larger request bodies are refused with 413 (default: %(default)s)")
    p.add_argument("--trace", help="append every aligned request's whole result (no headers, no keys) to this JSONL "
                                   "file, for hia export-pairs")
    p.add_argument("--redis", default=os.environ.get("HIA_REDIS_URL"),
                   help="a Redis URL (redis://host:6379/0) that replicas share their users' daily limits and the "
                        "rate limit through (default: $HIA_REDIS_URL; without it both hold in this process)")
    p.add_argument("--rate-limit", type=float, help="requests per second to the upstream, aligned and passed through")
    p.add_argument("--metrics-public", action="store_true",
                   help="serve GET /metrics without the bearer token (for a Prometheus scraper inside your network)")
    p.add_argument("--trace-max-mb", type=float, default=D.TRACE_MAX_BYTES / 2**20,
                   help="rotate the trace file past this many MiB (default: %(default)g), keeping --trace-backups")
    p.add_argument("--trace-backups", type=int, default=D.TRACE_BACKUPS)
    p.add_argument("--trace-no-texts", action="store_true", help="leave candidates' prompts and answers out of the trace")
    p.add_argument("--request-timeout", type=float, default=D.SERVE_REQUEST_TIMEOUT_S,
                   help="seconds an aligned request may take before it gets 504 (default: %(default)s)")
    return p


def _serve(args: argparse.Namespace) -> int:
    import logging

    from hia.build import build
    from hia.serving import ProxyServer
    from hia.serving.profiles import ProfileStore
    from hia.serving.trace import TraceOptions

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2"):  # their INFO lines print URLs, credentials included
        logging.getLogger(noisy).setLevel(logging.WARNING)
    token = os.environ.get(args.token_env) or None
    with ProfileStore(args.profiles) as profiles, endpoints(args) as eps, \
            build(settings_from(args, eps), policy=eps.policy) as pipeline:
        proxy = ProxyServer(upstream_url=eps.policy.base_url, model=eps.policy.model, api_key=eps.policy.api_key,
                            host=args.host, port=args.port, token=token, profiles=profiles, pipeline=pipeline,
                            max_body_bytes=args.max_body_bytes, request_timeout_s=args.request_timeout,
                            trace=args.trace, redis_url=args.redis, rate_limit=args.rate_limit,
                            metrics_public=args.metrics_public,
                            trace_options=TraceOptions(max_bytes=int(args.trace_max_mb * 2**20), backups=args.trace_backups,
                                                       texts=not args.trace_no_texts))
        proxy.listen()
        print(f"hia serving {eps.policy.model} at {proxy.base_url}"
              + (" (bearer token required)" if token else ""), file=sys.stderr)
        proxy.serve_forever()
    return 0


def _add_profiles(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("profiles", help="manage personal goal profiles (used through a request's `user`)")
    p.add_argument("--db", help="profiles SQLite file (default: ~/.cache/hia/profiles.sqlite or $HIA_PROFILES_DB)")
    actions = p.add_subparsers(dest="action", required=True)
    s = actions.add_parser("set", help="create or replace a profile")
    s.add_argument("user")
    s.add_argument("--goal", required=True)
    s.add_argument("--budget", type=int, default=D.DEFAULT_BUDGET)
    s.add_argument("--method", choices=METHODS, default=D.DEFAULT_METHOD)
    s.add_argument("--daily-calls", type=int, help="the most policy calls this user may spend per UTC day (default: no limit)")
    s.add_argument("--daily-tokens", type=int, help="the most tokens this user may spend per UTC day (default: no limit)")
    for name in ("show", "delete"):
        actions.add_parser(name).add_argument("user")
    actions.add_parser("list")
    return p


def _profiles(args: argparse.Namespace) -> int:
    from hia.serving.profiles import ProfileStore, profile_dict
    from hia.serving.spend import utc_day

    with ProfileStore(args.db) as store:
        def described(profile):  # the profile and what its user spent today
            spent = store.spent(profile.user, utc_day(time.time()))
            return {**profile_dict(profile), "spent_today": {"day": spent.day, "calls": spent.calls, "tokens": spent.tokens}}

        if args.action == "set":
            print(json.dumps(profile_dict(store.set(args.user, args.goal, budget=args.budget, method=args.method,
                                                    daily_calls=args.daily_calls, daily_tokens=args.daily_tokens))))
        elif args.action == "show":
            profile = store.get(args.user)
            if profile is None:
                raise HiaError(f"no profile for user {args.user!r}")
            print(json.dumps(described(profile)))
        elif args.action == "list":
            for profile in store.list():
                spent = described(profile)["spent_today"]
                limit = "no limit" if profile.daily_calls is None else f"{spent['calls']}/{profile.daily_calls} calls today"
                if profile.daily_tokens is not None:
                    limit += f", {spent['tokens']}/{profile.daily_tokens} tokens"
                print(f"{profile.user}\t{profile.goal}\tbudget {profile.budget}\t{profile.method}\t{limit}")
        elif args.action == "delete":
            if not store.delete(args.user):
                raise HiaError(f"no profile for user {args.user!r}")
            print(f"deleted {args.user}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_serve(sub).set_defaults(run=_serve)
    _add_profiles(sub).set_defaults(run=_profiles)
