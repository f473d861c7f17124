"""hia: align answers of black-box chat models to goals, and train the reward models it uses."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import textwrap
from typing import Iterator, Sequence

from . import _defaults as D
from ._chat import public_url
from .aligner import Aligner
from .cache import Cache, CachedReference
from .errors import HiaError
from .goal import Goal
from .objectives import OBJECTIVES
from .optimizer import LLMOptimizer, PromptOptimizer, TemplateOptimizer
from .policy import ChatPolicy
from .rewards.base import ReferenceRewardModel
from .rewards.embeddings import Embedder
from .rewards.judge import LLMJudge
from .rewards.learned import LearnedHeuristic
from .search import METHODS
from .training import default_reference, train_reference
from .types import AlignmentResult


def _add_endpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", help="policy endpoint (OpenAI-compatible), e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", help="policy model name")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the API key (keys are never taken on the command line)")
    p.add_argument("--optimizer", choices=("llm", "template"), default=None,
                   help="llm: a chat model rewrites prompts; template: fixed phrasings (default: llm with the "
                        "embedded models or an --optimizer-base-url, else template)")
    p.add_argument("--optimizer-base-url")
    p.add_argument("--optimizer-model")


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
    _add_endpoint_args(p)
    p.add_argument("--reference", choices=("attributes", "judge"), default="attributes",
                   help="attributes: the trained HelpSteer attribute model (default; no calls); "
                        "judge: an LLM judge reading top_logprobs")
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


def _optimizer(ep: dict) -> PromptOptimizer:
    if ep["optimizer"]:
        return LLMOptimizer(ep["optimizer"]["model"], base_url=ep["optimizer"]["base_url"], api_key=ep["optimizer"]["api_key"])
    return TemplateOptimizer()


def _reference(args: argparse.Namespace, ep: dict, store: Cache) -> ReferenceRewardModel:
    """The reference model named by --reference, behind a score cache."""
    if args.reference == "judge":
        model = args.judge_model or ep["policy"]["model"]
        url = args.judge_base_url or ep["policy"]["base_url"]
        judge = LLMJudge(model, base_url=url, api_key=ep["policy"]["api_key"])
        return CachedReference(judge, store, f"judge:{public_url(url)}:{model}")
    attributes = default_reference(args.reference_file)
    return CachedReference(attributes, store, f"attributes:{attributes.metadata.get('data_sha256', '')}")


def _align(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    goal = Goal.parse(args.goal, tolerance=args.tolerance)
    with _endpoints(args) as ep:
        policy = ChatPolicy(ep["policy"]["model"], base_url=ep["policy"]["base_url"], api_key=ep["policy"]["api_key"],
                            max_tokens=args.max_tokens, temperature=args.temperature)
        store = Cache(args.cache_file) if args.cache_file else Cache()  # in memory unless a file is given
        embedder = Embedder(store=store) if args.cache_file else None
        reference = _reference(args, ep, store)
        optimizer = _optimizer(ep)
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


def _add_train_reference(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-reference", help="train the HelpSteer attribute reference model",
                       description="Train the reference attribute model on rated rows and print its "
                                   "prompt-grouped cross-validation per attribute.")
    p.add_argument("--data", required=True, help="HelpSteer-style .jsonl/.json/.parquet, or a hub id")
    p.add_argument("--features", choices=("stats", "stats+embeddings"), default="stats")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--out", help="where to save the model (default: print only)")
    p.add_argument("--skip-invalid", action="store_true", help="skip and count malformed rows instead of failing")


def format_cv(report: dict) -> str:
    lines = [f"{'attribute':<12} {'spearman':>8} {'MAE':>6} {'MAE of mean':>11}"]
    for name, row in report.items():
        lines.append(f"{name:<12} {row['spearman']:>8.3f} {row['mae']:>6.3f} {row['mae_of_mean']:>11.3f}")
    return "\n".join(lines)


def _train_reference(args: argparse.Namespace) -> int:
    model, report = train_reference(args.data, features=args.features, folds=args.folds, skip_invalid=args.skip_invalid)
    meta = model.metadata
    print(f"{meta['rows']} rows, {meta['distinct_prompts']} distinct prompts, features {args.features}, "
          f"{args.folds} folds grouped by prompt" + (f", {meta['skipped_rows']} malformed rows skipped" if meta["skipped_rows"] else ""))
    print(format_cv(report))
    if args.out:
        print(f"saved to {model.save(args.out)}")
    return 0


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="fit the learned heuristic on real policy answers",
                       description="Spend a stated number of policy calls on rewrites of training prompts, score "
                                   "the answers with the reference model, fit the heuristic and save it; print its "
                                   "held-out Spearman per attribute, with and without online updates.")
    p.add_argument("--data", required=True, help="HelpSteer-style file whose prompts are used")
    p.add_argument("--train-prompts", type=int, default=20)
    p.add_argument("--heldout-prompts", type=int, default=8)
    p.add_argument("--rewrites", type=int, default=4, help="rewrites per prompt, each answered once")
    p.add_argument("--policy-calls", type=int, default=112, help="policy calls to spend in all")
    p.add_argument("--max-prompt-words", type=int, default=60, help="use only prompts this short")
    p.add_argument("--max-tokens", type=int, default=160, help="policy answer length cap")
    p.add_argument("--reference-file", help="attribute model (default: the shipped one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="where to save the heuristic (JSON)")
    _add_endpoint_args(p)


def _calibrate(args: argparse.Namespace) -> int:
    import asyncio
    import random

    from .calibration import calibrate
    from .data import load_helpsteer
    from .policy import as_policy_fn

    prompts = sorted({r.prompt for r in load_helpsteer(args.data).rows if len(r.prompt.split()) <= args.max_prompt_words})
    random.Random(args.seed).shuffle(prompts)
    need = args.train_prompts + args.heldout_prompts
    if len(prompts) < need:
        raise HiaError(f"{args.data} has {len(prompts)} prompts of at most {args.max_prompt_words} words; "
                       f"{need} are needed (lower --train-prompts/--heldout-prompts or raise --max-prompt-words)")
    train, heldout = prompts[: args.train_prompts], prompts[args.train_prompts:need]
    reference = default_reference(args.reference_file)
    with _endpoints(args) as ep:
        policy = as_policy_fn(ChatPolicy(ep["policy"]["model"], base_url=ep["policy"]["base_url"],
                                         api_key=ep["policy"]["api_key"], max_tokens=args.max_tokens))
        heuristic, report = asyncio.run(calibrate(
            train, heldout, optimizer=_optimizer(ep), policy=policy, reference=reference,
            attributes=reference.attributes, rewrites=args.rewrites, policy_calls=args.policy_calls, seed=args.seed))
    heuristic.save(args.out)
    u = report.usage
    print(f"{report.train_prompts} training prompts ({report.train_evidence} answered rewrites), "
          f"{report.heldout_prompts} held-out prompts ({report.heldout_evidence}); {u.policy_calls} policy calls, "
          f"{u.optimizer_calls} optimizer calls, {report.seconds:.0f} s")
    print("held-out Spearman, predicted vs reference scores of the policy's answers:")
    print(f"{'attribute':<12} {'zero-shot':>9} {'offline':>8} {'online':>7}")
    for a in report.attributes:
        row = [report.spearman[k][a] for k in ("zero_shot", "offline", "online")]
        print(f"{a:<12} " + " ".join(f"{v:>{w}.3f}" for v, w in zip(row, (9, 8, 7))))
    print(f"saved to {args.out}")
    return 0


def _add_train_preference(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-preference", help="train a community preference (Bradley-Terry) model",
                       description="Train a Bradley-Terry model on sentence embeddings of (question, answer) per "
                                   "community and print its pair accuracy under question-grouped cross-validation.")
    p.add_argument("--data", required=True, help="preference data file")
    p.add_argument("--format", choices=("stackexchange", "compred", "pairs"), default="stackexchange",
                   help="stackexchange: questions with voted answers; compred: ComPRed rows; pairs: prompt/chosen/rejected")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--c", type=float, default=0.01, help="inverse regularisation strength")
    p.add_argument("--out", help="where to save the model (default: print only)")


def _train_preference(args: argparse.Namespace) -> int:
    from .data import load_compred, load_helpsteer_pairs, load_stackexchange_pairs
    from .rewards.preference import CommunityPreferenceModel, pair_accuracy_cv

    loader = {"stackexchange": load_stackexchange_pairs, "compred": load_compred, "pairs": load_helpsteer_pairs}[args.format]
    pairs = loader(args.data).rows
    accuracy = pair_accuracy_cv(pairs, folds=args.folds, c=args.c)
    print(f"{len(pairs)} pairs; pair accuracy, {args.folds} folds grouped by question (0.5 = chance):")
    for name, value in accuracy.items():
        if name != "pairs":
            count = sum(1 for p in pairs if name == "all" or (p.community or "all") == name)
            print(f"  {name:<24} {value:.3f}  ({count} pairs)")
    model = CommunityPreferenceModel.fit(pairs, c=args.c)
    model.metadata["cv_pair_accuracy"] = accuracy
    if args.out:
        print(f"saved to {model.save(args.out)}")
    return 0


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run an OpenAI-compatible proxy that aligns answers",
                       description="Serve /v1/chat/completions, /v1/models and /health. Requests with a goal (extra_body, "
                                   "X-HIA-Goal header, or the `user`'s profile) are aligned; others pass through.")
    p.add_argument("--upstream", help="upstream OpenAI-compatible base URL (default: the embedded local models)")
    p.add_argument("--model", help="upstream model name (needed with --upstream)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the upstream key")
    p.add_argument("--host", default="127.0.0.1", help="address to bind; any but loopback needs a token")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--token-env", default="HIA_SERVE_TOKEN", help="environment variable holding the bearer token clients must send")
    p.add_argument("--profiles", help="profiles SQLite file (default: ~/.cache/hia/profiles.sqlite or $HIA_PROFILES_DB)")
    p.add_argument("--method", choices=METHODS, default=D.DEFAULT_METHOD)


def _serve(args: argparse.Namespace) -> int:
    import logging

    from .profiles import ProfileStore
    from .serve import ProxyServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    token = os.environ.get(args.token_env) or None
    profiles = ProfileStore(args.profiles)
    with contextlib.ExitStack() as stack:
        if args.upstream:
            if not args.model:
                raise HiaError("--upstream needs --model (the model name the upstream serves)")
            url, model, key = args.upstream, args.model, os.environ.get(args.api_key_env)
            optimizer: PromptOptimizer = TemplateOptimizer()
        else:
            from .local import LocalModels

            print("starting the embedded local models ...", file=sys.stderr)
            local = stack.enter_context(LocalModels())
            url, model, key = local.policy.base_url, local.policy.alias, None
            optimizer = LLMOptimizer(local.optimizer.alias, base_url=local.optimizer.base_url)
        proxy = ProxyServer(upstream_url=url, model=model, api_key=key, host=args.host, port=args.port, token=token,
                            profiles=profiles, optimizer=optimizer, method=args.method)
        print(f"hia serving {model} at {proxy.base_url.replace(':0/', ':')}"
              + (" (bearer token required)" if token else ""), file=sys.stderr)
        proxy.serve_forever()
    return 0


def _add_profiles(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profiles", help="manage personal goal profiles (used through a request's `user`)")
    p.add_argument("--db", help="profiles SQLite file (default: ~/.cache/hia/profiles.sqlite or $HIA_PROFILES_DB)")
    actions = p.add_subparsers(dest="action", required=True)
    s = actions.add_parser("set", help="create or replace a profile")
    s.add_argument("user")
    s.add_argument("--goal", required=True)
    s.add_argument("--budget", type=int, default=D.DEFAULT_BUDGET)
    s.add_argument("--method", choices=METHODS, default=D.DEFAULT_METHOD)
    for name in ("show", "delete"):
        actions.add_parser(name).add_argument("user")
    actions.add_parser("list")


def _profiles(args: argparse.Namespace) -> int:
    from .profiles import ProfileStore, profile_dict

    store = ProfileStore(args.db)
    if args.action == "set":
        print(json.dumps(profile_dict(store.set(args.user, args.goal, budget=args.budget, method=args.method))))
    elif args.action == "show":
        profile = store.get(args.user)
        if profile is None:
            raise HiaError(f"no profile for user {args.user!r}")
        print(json.dumps(profile_dict(profile)))
    elif args.action == "list":
        for profile in store.list():
            print(f"{profile.user}\t{profile.goal}\tbudget {profile.budget}\t{profile.method}")
    elif args.action == "delete":
        if not store.delete(args.user):
            raise HiaError(f"no profile for user {args.user!r}")
        print(f"deleted {args.user}")
    return 0


COMMANDS = {"align": _align, "train-reference": _train_reference, "calibrate": _calibrate,
            "train-preference": _train_preference, "serve": _serve, "profiles": _profiles}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hia", description=textwrap.dedent(__doc__ or ""))
    sub = parser.add_subparsers(dest="command", required=True)
    _add_align(sub)
    _add_train_reference(sub)
    _add_calibrate(sub)
    _add_train_preference(sub)
    _add_serve(sub)
    _add_profiles(sub)
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so managed local servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return COMMANDS[args.command](args)
    except HiaError as exc:
        print(f"hia: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
