"""Command line: `hia align PROMPT --goal helpfulness=4,verbosity=1 --budget 2 --method hia`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import textwrap
from typing import Iterator, Sequence

from . import _defaults as D
from .aligner import Aligner
from .errors import HiaError
from .goal import Goal
from .objectives import OBJECTIVES
from .optimizer import LLMOptimizer, PromptOptimizer, TemplateOptimizer
from .policy import ChatPolicy
from .rewards.judge import LLMJudge
from .search import METHODS
from .types import AlignmentResult


def _add_align(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="align one answer to a goal",
                       description="Align one answer of a chat model to a goal, under a budget of policy calls. "
                                   "Without --base-url it starts the embedded local models.")
    p.add_argument("prompt", help="the question or instruction; '-' reads it from standard input")
    p.add_argument("--goal", required=True, help="targets, e.g. helpfulness=4,verbosity=1 (weight: verbosity=1:2)")
    p.add_argument("--budget", type=int, default=D.DEFAULT_BUDGET, help="policy calls allowed (default %(default)s)")
    p.add_argument("--method", choices=METHODS, default=D.DEFAULT_METHOD, help="search method (default %(default)s)")
    p.add_argument("--objective", choices=list(OBJECTIVES), default=D.DEFAULT_OBJECTIVE)
    p.add_argument("--tolerance", type=float, default=D.DEFAULT_TOLERANCE, help="for goal_completion")
    p.add_argument("--base-url", help="policy endpoint (OpenAI-compatible), e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", help="policy model name")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the API key (keys are never taken on the command line)")
    p.add_argument("--optimizer", choices=("llm", "template"), default=None,
                   help="llm: a chat model rewrites prompts; template: fixed phrasings (default: llm with the "
                        "embedded models or an --optimizer-base-url, else template)")
    p.add_argument("--optimizer-base-url")
    p.add_argument("--optimizer-model")
    p.add_argument("--judge-base-url", help="reference LLM judge endpoint (default: the policy's)")
    p.add_argument("--judge-model")
    p.add_argument("--max-tokens", type=int, default=D.POLICY_MAX_TOKENS, help="policy answer length cap")
    p.add_argument("--temperature", type=float, default=D.POLICY_TEMPERATURE)
    p.add_argument("--seed", type=int, default=D.POLICY_BASE_SEED)
    p.add_argument("--candidates", type=int, default=D.HIA_CANDIDATES_PER_ROUND, help="HIA rewrites per round")
    p.add_argument("--beam-width", type=int, default=D.BEAM_WIDTH)
    p.add_argument("--beam-expansions", type=int, default=D.BEAM_EXPANSIONS)
    p.add_argument("--system", help="system prompt sent before every candidate")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")


@contextlib.contextmanager
def _endpoints(args: argparse.Namespace) -> Iterator[dict]:
    """Policy, optimizer and judge endpoints: the user's, or the embedded local models."""
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.base_url:
        if not args.model:
            raise HiaError("--base-url needs --model (the model name the endpoint serves)")
        policy = {"base_url": args.base_url, "model": args.model, "api_key": api_key}
        optimizer = None
        if args.optimizer_base_url or args.optimizer == "llm":
            optimizer = {"base_url": args.optimizer_base_url or args.base_url,
                         "model": args.optimizer_model or args.model, "api_key": api_key}
        yield {"policy": policy, "optimizer": optimizer}
        return
    from .local import LocalModels

    print("starting the embedded local models ...", file=sys.stderr)
    with LocalModels() as local:
        policy = {"base_url": local.policy.base_url, "model": local.policy.alias, "api_key": None}
        optimizer = {"base_url": args.optimizer_base_url or local.optimizer.base_url,
                     "model": args.optimizer_model or local.optimizer.alias, "api_key": None}
        yield {"policy": policy, "optimizer": None if args.optimizer == "template" else optimizer}


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


def _align(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    goal = Goal.parse(args.goal, tolerance=args.tolerance)
    with _endpoints(args) as ep:
        policy = ChatPolicy(ep["policy"]["model"], base_url=ep["policy"]["base_url"], api_key=ep["policy"]["api_key"],
                            max_tokens=args.max_tokens, temperature=args.temperature)
        judge_url = args.judge_base_url or ep["policy"]["base_url"]
        judge = LLMJudge(args.judge_model or ep["policy"]["model"], base_url=judge_url,
                         api_key=ep["policy"]["api_key"])
        optimizer: PromptOptimizer
        if ep["optimizer"]:
            optimizer = LLMOptimizer(ep["optimizer"]["model"], base_url=ep["optimizer"]["base_url"],
                                     api_key=ep["optimizer"]["api_key"])
        else:
            optimizer = TemplateOptimizer()
        messages = [{"role": "system", "content": args.system}] if args.system else []
        with Aligner(policy, judge, optimizer=optimizer, method=args.method, objective=args.objective,
                     seed=args.seed, hia_candidates=args.candidates, beam_width=args.beam_width,
                     beam_expansions=args.beam_expansions) as aligner:
            result = aligner.align(prompt, goal, budget=args.budget, messages=messages)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_result(result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hia", description=textwrap.dedent(__doc__ or ""))
    sub = parser.add_subparsers(dest="command", required=True)
    _add_align(sub)
    args = parser.parse_args(argv)
    try:
        return _align(args)
    except HiaError as exc:
        print(f"hia: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
