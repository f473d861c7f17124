"""`hia align`: align one answer and print it with a table of every candidate."""

from __future__ import annotations

import argparse
import json
import sys

from hia import _defaults as D
from hia.build import build, build_policy
from hia.cli._common import add_endpoint_args, add_pipeline_args, endpoints, settings_from
from hia.core.goal import Goal
from hia.core.results import AlignmentResult


def _add_align(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("align", help="align one answer to a goal",
                       description="Align one answer of a chat model to a goal, under a budget of policy calls. "
                                   "Without --base-url it starts the embedded local models.")
    p.add_argument("prompt", help="the question or instruction; '-' reads it from standard input")
    p.add_argument("--goal", required=True, help="targets, e.g. verbosity=1,complexity=1 (weight: verbosity=1:2)")
    p.add_argument("--budget", type=int, help=f"policy calls allowed (default {D.DEFAULT_BUDGET})")
    p.add_argument("--tolerance", type=float, default=D.DEFAULT_TOLERANCE, help="for goal_completion")
    add_endpoint_args(p)
    add_pipeline_args(p)
    p.add_argument("--max-tokens", type=int, default=D.POLICY_MAX_TOKENS, help="policy answer length cap")
    p.add_argument("--temperature", type=float, default=D.POLICY_TEMPERATURE)
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
          f"retries {u.retries}" + (f" ({u.malformed} unreadable replies a provider may bill)" if u.malformed else "")
          + f", {u.wall_seconds:.1f} s "
          f"(" + ", ".join(f"{k} {v:.1f}" for k, v in u.stage_seconds.items()) + ")")
    for error in result.errors:
        print(f"note: {error.stage}: {error.type}: {error.message}", file=sys.stderr)


def _align(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    goal = Goal.parse(args.goal, tolerance=args.tolerance)
    with endpoints(args) as eps, build(settings_from(args, eps), policy=eps.policy) as pipeline, \
            build_policy(eps.policy, max_tokens=args.max_tokens, temperature=args.temperature) as policy:
        messages = [{"role": "system", "content": args.system}] if args.system else []
        with pipeline.aligner(policy) as aligner:
            result = aligner.align(prompt, goal, messages=messages)  # the budget is in the search options
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_result(result)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_align(sub).set_defaults(run=_align)
