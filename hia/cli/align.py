"""`hia align`: align one answer and print it with a table of every candidate."""

from __future__ import annotations

import argparse
import json
import sys

from .. import _defaults as D
from .._chat import public_url
from ..aligner import Aligner
from ..cache import Cache, CachedReference
from ..goal import Goal
from ..objectives import OBJECTIVES
from ..policy import ChatPolicy
from ..rewards.base import ReferenceRewardModel
from ..rewards.embeddings import Embedder
from ..rewards.exact import ExactReference
from ..rewards.judge import LLMJudge
from ..rewards.learned import LearnedHeuristic
from ..search import METHODS
from ..training import default_reference
from ..types import AlignmentResult
from ._common import add_endpoint_args, endpoints, make_optimizer


def _add_align(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("align", help="align one answer to a goal",
                       description="Align one answer of a chat model to a goal, under a budget of policy calls. "
                                   "Without --base-url it starts the embedded local models.")
    p.add_argument("prompt", help="the question or instruction; '-' reads it from standard input")
    p.add_argument("--goal", required=True, help="targets, e.g. helpfulness=4,verbosity=1 (weight: verbosity=1:2)")
    p.add_argument("--budget", type=int, default=D.DEFAULT_BUDGET, help="policy calls allowed (default %(default)s)")
    p.add_argument("--method", choices=METHODS, default=D.DEFAULT_METHOD, help="search method (default %(default)s)")
    p.add_argument("--objective", choices=list(OBJECTIVES), default=D.DEFAULT_OBJECTIVE)
    p.add_argument("--tolerance", type=float, default=D.DEFAULT_TOLERANCE, help="for goal_completion")
    add_endpoint_args(p)
    p.add_argument("--reference", choices=("attributes", "exact", "judge"), default="attributes",
                   help="attributes: the trained HelpSteer attribute model (default; no calls); exact: verbosity "
                        "by word count and complexity by reading grade (no model); judge: an LLM judge reading top_logprobs")
    p.add_argument("--reference-file", help="attribute model file from `hia train-reference` (default: the shipped one)")
    p.add_argument("--heuristic-file", help="learned heuristic from `hia calibrate` (default: the zero-shot heuristic)")
    p.add_argument("--no-online", action="store_true", help="do not update the heuristic from this run's answers")
    p.add_argument("--cache-file", help="SQLite file caching embeddings and reference scores across runs")
    p.add_argument("--judge-base-url", help="LLM judge endpoint (default: the policy's)")
    p.add_argument("--judge-model")
    p.add_argument("--max-tokens", type=int, default=D.POLICY_MAX_TOKENS, help="policy answer length cap")
    p.add_argument("--temperature", type=float, default=D.POLICY_TEMPERATURE)
    p.add_argument("--seed", type=int, default=D.POLICY_BASE_SEED)
    p.add_argument("--candidates", type=int, default=D.HIA_CANDIDATES_PER_ROUND, help="HIA rewrites per round")
    p.add_argument("--beam-width", type=int, default=D.BEAM_WIDTH)
    p.add_argument("--beam-expansions", type=int, default=D.BEAM_EXPANSIONS)
    p.add_argument("--system", help="system prompt sent before every candidate")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    return p


def _truncate(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(result: AlignmentResult) -> str:
    """A compact table of candidates: fate, heuristic prediction and reference verdict."""
    attrs = result.goal.attributes
    rows = [("#", "rnd", "source", "fate", "heur R", "ref scores", result.objective, "prompt / reason")]
    for c in result.candidates:
        if c.evaluation is not None:
            fate = "CHOSEN" if c.id == result.chosen_id else "evaluated"
        else:
            fate = f"{c.dropped_by or c.status}"
        ref = ""
        reward = ""
        if c.evaluation is not None and c.evaluation.scores:
            ref = " ".join(f"{c.evaluation.scores[a]:.1f}" for a in attrs)
            reward = f"{c.evaluation.rewards[result.objective]:.2f}"
        heur = "" if c.heuristic_reward is None else f"{c.heuristic_reward:.2f}"
        note = c.prompt if c.evaluation is not None or c.reason is None else f"[{c.reason}] {c.prompt}"
        rows.append((str(c.id), str(c.round), c.source, fate, heur, ref, reward, _truncate(note, 70)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    return "\n".join(lines)


def _print_result(result: AlignmentResult) -> None:
    print(result.response if result.response is not None else "(no answer)")
    print()
    print(f"goal {result.goal} | method {result.method} | budget {result.budget} | "
          f"ref scores are {', '.join(result.goal.attributes)}")
    print(format_table(result))
    u = result.usage
    print(f"\npolicy calls {u.policy_calls}/{result.budget}, optimizer calls {u.optimizer_calls}, "
          f"judge calls {u.roles['judge'].calls}, tokens {u.prompt_tokens} in / {u.completion_tokens} out, "
          f"retries {u.retries}, {u.wall_seconds:.1f} s "
          f"(" + ", ".join(f"{k} {v:.1f}" for k, v in u.stage_seconds.items()) + ")")
    for error in result.errors:
        print(f"note: {error.stage}: {error.type}: {error.message}", file=sys.stderr)


def _reference(args: argparse.Namespace, ep: dict, store: Cache) -> ReferenceRewardModel:
    """The reference model named by --reference, behind a score cache."""
    if args.reference == "judge":
        model = args.judge_model or ep["policy"]["model"]
        url = args.judge_base_url or ep["policy"]["base_url"]
        judge = LLMJudge(model, base_url=url, api_key=ep["policy"]["api_key"])
        return CachedReference(judge, store, f"judge:{public_url(url)}:{model}")
    if args.reference == "exact":
        return ExactReference()  # text measures: nothing worth caching
    attributes = default_reference(args.reference_file)
    return CachedReference(attributes, store, f"attributes:{attributes.fingerprint}")


def _align(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    goal = Goal.parse(args.goal, tolerance=args.tolerance)
    with endpoints(args) as ep:
        policy = ChatPolicy(ep["policy"]["model"], base_url=ep["policy"]["base_url"], api_key=ep["policy"]["api_key"],
                            max_tokens=args.max_tokens, temperature=args.temperature)
        store = Cache(args.cache_file) if args.cache_file else Cache()  # in memory unless a file is given
        embedder = Embedder(store=store) if args.cache_file else None
        reference = _reference(args, ep, store)
        optimizer = make_optimizer(ep)
        messages = [{"role": "system", "content": args.system}] if args.system else []
        heuristic = LearnedHeuristic.load(args.heuristic_file, embedder=embedder) if args.heuristic_file else None
        with Aligner(policy, reference, optimizer=optimizer, heuristic=heuristic, embedder=embedder,
                     online_learning=not args.no_online,
                     method=args.method, objective=args.objective,
                     seed=args.seed, hia_candidates=args.candidates, beam_width=args.beam_width,
                     beam_expansions=args.beam_expansions) as aligner:
            result = aligner.align(prompt, goal, budget=args.budget, messages=messages)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_result(result)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_align(sub).set_defaults(run=_align)
