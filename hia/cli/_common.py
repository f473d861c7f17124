"""What several commands share: endpoint options, and the endpoints they name (or the embedded models)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Iterator

from .. import _defaults as D
from ..errors import HiaError
from ..optimizer import LLMOptimizer, PromptOptimizer, TemplateOptimizer


def add_endpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", help="policy endpoint (OpenAI-compatible), e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", help="policy model name")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the API key (keys are never taken on the command line)")
    p.add_argument("--optimizer", choices=("llm", "template"), default=None,
                   help="llm: a chat model rewrites prompts; template: the rubric of each target, in fixed phrasings "
                        f"(default: llm with an --optimizer-base-url; with the embedded models, {D.EMBEDDED_OPTIMIZER}; "
                        "else template)")
    p.add_argument("--optimizer-base-url")
    p.add_argument("--optimizer-model")


@contextlib.contextmanager
def endpoints(args: argparse.Namespace) -> Iterator[dict]:
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
    from ..local import LocalModels

    print("starting the embedded local models ...", file=sys.stderr)
    choice = "template" if args.optimizer == "template" else D.EMBEDDED_OPTIMIZER
    if choice == "template" and args.optimizer == "llm":
        choice = "smollm2"  # asked for a model: the embedded one that rewrites
    with LocalModels(choice) as local:
        policy = {"base_url": local.policy.base_url, "model": local.policy.alias, "api_key": None}
        optimizer = None
        if args.optimizer_base_url or local.optimizer is not None:
            optimizer = {"base_url": args.optimizer_base_url or local.optimizer.base_url,  # type: ignore[union-attr]
                         "model": args.optimizer_model or local.optimizer.alias, "api_key": None}  # type: ignore[union-attr]
        yield {"policy": policy, "optimizer": optimizer}


def make_optimizer(ep: dict) -> PromptOptimizer:
    if ep["optimizer"]:
        return LLMOptimizer(ep["optimizer"]["model"], base_url=ep["optimizer"]["base_url"], api_key=ep["optimizer"]["api_key"])
    return TemplateOptimizer()
