"""`hia batch` (align a JSONL file of items) and `hia export-pairs` (preference data from what
batches and the proxy aligned)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from hia import _defaults as D
from hia.build import Endpoint, build, build_policy
from hia.cli._common import add_endpoint_args, add_pipeline_args, endpoints, settings_from
from hia.engine.batch import ENGINES, align_many
from hia.errors import DataError, InputError
from hia.models.chat import public_url
from hia.models.ratelimit import Pace
from hia.rewards.policy_memory import policy_key
from hia.storage.jsonl import check_not_an_input, read_jsonl
from hia.training.export import FORMATS, export_pairs


def _add_batch(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("batch", help="align every item of a JSONL file, resumably",
                       description="Align each line of ITEMS ({\"id\", \"prompt\", \"goal\"[, \"budget\", \"method\"]}) "
                                   "and write one record per item to --out as it finishes. Run it again to finish the "
                                   "rest: items already in --out are skipped.")
    p.add_argument("items", type=Path, help="JSONL file of items")
    p.add_argument("--out", type=Path, required=True, help="JSONL output (appended; resumed by id)")
    p.add_argument("--budget", type=int, help=f"policy calls per item (default {D.DEFAULT_BUDGET})")
    p.add_argument("--total-budget", type=int,
                   help="policy calls for the whole batch: a first answer for every item, then more calls for the "
                        "items still off their goal and improving (each record says how many and why)")
    p.add_argument("--split-evenly", action="store_true",
                   help="with --total-budget: each item draws at most --budget calls from it instead")
    p.add_argument("--concurrency", type=int, default=D.BATCH_CONCURRENCY)
    p.add_argument("--max-tokens", type=int, default=D.POLICY_MAX_TOKENS, help="policy answer length cap")
    p.add_argument("--rate-limit", type=float,
                   help="requests per second to the policy endpoint, for the whole batch (with --engine ray, shared "
                        "by every worker)")
    p.add_argument("--engine", choices=ENGINES, default="inprocess",
                   help="inprocess: this process aligns every item (default); ray: worker actors on a Ray cluster")
    p.add_argument("--ray-address", help="with --engine ray: a running cluster to join, e.g. auto or "
                                          "ray://host:10001 (default: a local cluster on this machine's cores)")
    p.add_argument("--workers", type=int, default=D.RAY_WORKERS, help="with --engine ray: worker actors (default %(default)s)")
    p.add_argument("--redis", default=os.environ.get("HIA_REDIS_URL"),
                   help="a Redis URL: the --rate-limit is kept there, shared with proxy replicas and other batches "
                        "(default: $HIA_REDIS_URL)")
    add_endpoint_args(p)
    add_pipeline_args(p)
    return p


def read_items(path: Path) -> list[dict]:
    if not path.is_file():
        raise InputError(f"items file {path} does not exist; give a JSONL file of {{\"id\", \"prompt\", \"goal\"}} lines")
    items = []
    for line in read_jsonl(path):
        number, item = line.number, line.value
        if line.error is not None:
            raise DataError(f"{path}:{number}: {line.error}")
        missing = [k for k in ("prompt", "goal") if not isinstance(item, dict) or k not in item]
        if missing:
            raise DataError(f"{path}:{number}: the item has no {' and no '.join(missing)}")
        items.append(item)
    if not items:
        raise DataError(f"{path} holds no items")
    return items


def _rate_limiter(args: argparse.Namespace, endpoint: Endpoint) -> Pace | None:
    """The policy's limiter: in this process, or in Redis with --redis (on Ray, each worker makes its own
    from RayOptions.redis)."""
    from hia.models.ratelimit import RateLimiter
    from hia.models.shared_ratelimit import RedisRateLimiter
    from hia.storage.redis_store import RedisStore

    if args.rate_limit is None:
        return None
    if args.redis and args.engine != "ray":
        name = policy_key(public_url(endpoint.base_url), endpoint.model)
        return RedisRateLimiter(RedisStore(args.redis), name, args.rate_limit)
    return RateLimiter(args.rate_limit)


def _batch(args: argparse.Namespace) -> int:
    from hia.core.budget import Budget
    from hia.engine.ray_runner import RayOptions

    if args.engine != "ray" and (args.ray_address or args.workers != D.RAY_WORKERS):
        raise InputError("--ray-address and --workers are for --engine ray; add --engine ray, or leave them out")
    check_not_an_input(args.out, [args.items])
    items = read_items(args.items)
    ray = RayOptions(args.ray_address, args.workers, redis=args.redis) if args.engine == "ray" else None
    if args.split_evenly and args.total_budget is None:
        raise InputError("--split-evenly splits a --total-budget; give one")
    even = args.total_budget is not None and args.split_evenly
    shared = Budget(args.total_budget) if even else None
    total = args.total_budget if not even else None
    with endpoints(args) as eps, build(settings_from(args, eps), policy=eps.policy) as pipeline, \
            build_policy(eps.policy, max_tokens=args.max_tokens, rate_limiter=_rate_limiter(args, eps.policy)) as policy:
        aligner = pipeline.aligner(policy)
        report = asyncio.run(align_many(aligner, items, output=args.out, shared_budget=shared, total_budget=total,
                                        concurrency=args.concurrency, engine=args.engine, ray=ray))
    print(f"{report.done} items aligned in this run ({report.failed} with an error), {report.skipped} already in "
          f"{args.out}", file=sys.stderr)
    return 0 if report.failed == 0 else 1


def _add_export(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("export-pairs", help="preference data (DPO or KTO rows) from batch outputs and proxy traces",
                       description="Read `hia batch` / align_many outputs and `hia serve --trace` files and write "
                                   "rows TRL's DPOTrainer (prompt, chosen, rejected) or KTOTrainer (prompt, "
                                   "completion, label) reads. DPO pairs are kept when their reward margin lies "
                                   "between the reference's error and an easy ceiling.")
    p.add_argument("inputs", nargs="+", type=Path, help="batch outputs or proxy traces (JSONL)")
    p.add_argument("--format", choices=FORMATS, default="dpo")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--min-margin", type=float, default=D.PAIR_MIN_MARGIN,
                   help="DPO: drop pairs closer than this in reward (default %(default)s: the reference's error)")
    p.add_argument("--max-margin", type=float, default=D.PAIR_MAX_MARGIN,
                   help="DPO: drop pairs further apart than this (default %(default)s: easy pairs)")
    return p


def _export(args: argparse.Namespace) -> int:
    summary = export_pairs(args.inputs, args.out, format=args.format, min_margin=args.min_margin,
                           max_margin=args.max_margin)
    for line in summary.lines():
        print(line)
    print(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_batch(sub).set_defaults(run=_batch)
    _add_export(sub).set_defaults(run=_export)
