"""What several commands share: the endpoint and pipeline options, the endpoints they name (or the
embedded models), and the build settings they make."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Iterator

from hia import _defaults as D
from hia.build import REFERENCES, Endpoint, Settings
from hia.core.objectives import OBJECTIVES
from hia.errors import HiaError
from hia.models.chat import check_url
from hia.models.local import EMBEDDED_POLICIES, LocalModels
from hia.search.options import METHODS, SearchOptions


def add_endpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", "--upstream", dest="base_url",
                   help="policy endpoint (OpenAI-compatible), e.g. http://127.0.0.1:8000/v1 (default: the embedded models)")
    p.add_argument("--model", help="policy model name (needed with --base-url)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the API key (keys are never taken on the command line)")
    p.add_argument("--optimizer", choices=("llm", "template"), default=None,
                   help="llm: a chat model rewrites prompts; template: the rubric of each target, in fixed phrasings "
                        f"(default: llm with an --optimizer-base-url; with the embedded models, {D.EMBEDDED_OPTIMIZER}; "
                        "else template)")
    p.add_argument("--optimizer-base-url")
    p.add_argument("--optimizer-model")
    p.add_argument("--local-policy", choices=tuple(EMBEDDED_POLICIES), default=D.EMBEDDED_POLICY,
                   help="the embedded policy, without --base-url: medium (Qwen2.5-Coder-1.5B-Instruct) or small "
                        "(the 0.5B: twice as fast, less often right) (default: %(default)s)")


def add_pipeline_args(p: argparse.ArgumentParser) -> None:
    """How answers are aligned: the same options for `hia align` and `hia serve`."""
    p.add_argument("--reference", choices=REFERENCES, default="attributes",
                   help="attributes: the trained HelpSteer attribute model (default; no calls); exact: verbosity "
                        "by word count and complexity by reading grade (no model); judge: an LLM judge reading top_logprobs")
    p.add_argument("--reference-file", help="attribute model file from `hia train-reference` (default: the shipped one)")
    p.add_argument("--judge-base-url", help="LLM judge endpoint (default: the policy's)")
    p.add_argument("--judge-model")
    p.add_argument("--heuristic-file", help="learned heuristic from `hia calibrate` (default: the shipped heuristic)")
    p.add_argument("--cache-file", help="SQLite file caching embeddings and reference scores across runs")
    p.add_argument("--memory-dir", help="where what the heuristic learns about each policy is kept "
                                        "(default: $HIA_MEMORY_DIR, else ~/.cache/hia/policies)")
    p.add_argument("--no-memory", action="store_true", help="learn about the policy for this run only")
    add_search_args(p)


def add_search_args(p: argparse.ArgumentParser) -> None:
    """One flag per SearchOptions field, its dest the field's name; unset flags keep the field's default."""
    default = SearchOptions()
    p.add_argument("--method", choices=METHODS, help=f"search method (default {default.method})")
    p.add_argument("--objective", choices=list(OBJECTIVES), help=f"default {default.objective}")
    p.add_argument("--no-online", dest="online_learning", action="store_false", default=None,
                   help="do not update the heuristic from the answers paid for")
    p.add_argument("--seed", type=int, help=f"call i of an alignment uses seed + i (default {default.seed})")
    p.add_argument("--candidates", dest="hia_candidates", type=int,
                   help=f"HIA rewrites per round (default {default.hia_candidates})")
    p.add_argument("--beam-width", type=int, help=f"default {default.beam_width}")
    p.add_argument("--beam-expansions", type=int, help=f"default {default.beam_expansions}")
    p.add_argument("--no-resample", dest="resample", action="store_false", default=None,
                   help="HIA never pays for another draw of the best prompt so far")
    p.add_argument("--max-budget", type=int,
                   help="the most policy calls one alignment may spend, whatever a request or profile asks "
                        f"(default {default.max_budget})")


def search_options_from(args: argparse.Namespace) -> SearchOptions:
    """The search options the command line sets; the rest keep their defaults."""
    given = {name: value for name in SearchOptions.names() if (value := getattr(args, name, None)) is not None}
    return SearchOptions(**given)


@dataclass(frozen=True)
class Endpoints:
    policy: Endpoint
    optimizer: Endpoint | None  # None: the template optimizer


@contextlib.contextmanager
def endpoints(args: argparse.Namespace) -> Iterator[Endpoints]:
    """Policy and optimizer endpoints: the user's, or the embedded local models (started here)."""
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    check_url(args.base_url, "--base-url")
    check_url(args.optimizer_base_url, "--optimizer-base-url")
    check_url(getattr(args, "judge_base_url", None), "--judge-base-url")
    if args.base_url:
        if not args.model:
            raise HiaError("--base-url needs --model (the model name the endpoint serves)")
        optimizer = None
        if args.optimizer_base_url or args.optimizer == "llm":
            optimizer = Endpoint(args.optimizer_base_url or args.base_url, args.optimizer_model or args.model, api_key)
        yield Endpoints(Endpoint(args.base_url, args.model, api_key), optimizer)
        return
    from hia.models.embeddings import preload
    from hia.search import make_search

    if make_search(getattr(args, "method", None) or D.DEFAULT_METHOD).uses_filters:
        preload()  # HIA's filters need the embedding model: load it while the servers start
    print("starting the embedded local models ...", file=sys.stderr)
    choice = "template" if args.optimizer == "template" else D.EMBEDDED_OPTIMIZER
    if choice == "template" and args.optimizer == "llm":
        choice = "smollm2"  # asked for a model: the embedded one that rewrites
    with LocalModels(choice, args.local_policy) as local:
        optimizer = None
        if args.optimizer_base_url or local.optimizer is not None:
            optimizer = Endpoint(args.optimizer_base_url or local.optimizer.base_url,  # type: ignore[union-attr]
                                 args.optimizer_model or local.optimizer.alias)  # type: ignore[union-attr]
        yield Endpoints(Endpoint(local.policy.base_url, local.policy.alias), optimizer)


def settings_from(args: argparse.Namespace, eps: Endpoints) -> Settings:
    """The build settings the command line asks for (commands without pipeline options get the defaults)."""
    get = lambda name, default=None: getattr(args, name, default)  # noqa: E731
    judge = None
    if get("judge_base_url") or get("judge_model"):
        judge = Endpoint(get("judge_base_url") or eps.policy.base_url, get("judge_model") or eps.policy.model,
                         eps.policy.api_key)
    return Settings(
        reference=get("reference", "attributes"), reference_file=get("reference_file"), judge=judge,
        optimizer=eps.optimizer, heuristic_file=get("heuristic_file"), cache_file=get("cache_file"),
        remember_policy=not get("no_memory", False), memory_dir=get("memory_dir"), search=search_options_from(args))
