"""`hia train-reference`, `hia calibrate` and `hia train-preference`: fit and measure the reward models."""

from __future__ import annotations

import argparse

from hia import _defaults as D
from hia.cli._common import add_endpoint_args, endpoints, settings_from
from hia.errors import HiaError, InputError
from hia.rewards.model_files import model_file
from hia.training.reference import train_reference


def _add_train_reference(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train-reference", help="train the HelpSteer attribute reference model",
                       description="Train the reference attribute model on rated rows and print its "
                                   "prompt-grouped cross-validation per attribute.")
    p.add_argument("--data", required=True, help="HelpSteer-style .jsonl/.json/.parquet, or a hub id")
    p.add_argument("--features", choices=("stats", "stats+embeddings"), default="stats")
    p.add_argument("--folds", type=int, default=D.CV_FOLDS)
    p.add_argument("--out", help="where to save the model (default: print only)")
    p.add_argument("--skip-invalid", action="store_true", help="skip and count malformed rows instead of failing")
    return p


def format_cv(report: dict) -> str:
    """The cross-validation table: agreement and error after and before the label-scale map, and
    where nine in ten predictions fall (5th to 95th percentile) beside the labels."""
    def band(pair: list[float] | None) -> str:
        return f"{pair[0]:.2f}-{pair[1]:.2f}" if pair else "n/a"

    lines = [f"{'attribute':<12} {'spearman':>8} {'MAE':>6} {'MAE of mean':>11} {'spearman raw':>12} {'MAE raw':>7} "
             f"{'spread raw':>10} {'spread':>10} {'labels':>10}"]
    for name, row in report.items():
        lines.append(f"{name:<12} {row['spearman']:>8.3f} {row['mae']:>6.3f} {row['mae_of_mean']:>11.3f} "
                     f"{row.get('spearman_uncalibrated', float('nan')):>12.3f} {row.get('mae_uncalibrated', float('nan')):>7.3f} "
                     f"{band(row.get('spread_uncalibrated')):>10} {band(row.get('spread')):>10} "
                     f"{band(row.get('spread_of_labels')):>10}")
    return "\n".join(lines)


def _train_reference(args: argparse.Namespace) -> int:
    if args.out:
        model_file(args.out)  # a folder is refused before the training, not after it
    model, report = train_reference(args.data, features=args.features, folds=args.folds, skip_invalid=args.skip_invalid)
    meta = model.metadata
    print(f"{meta['rows']} rows, {meta['distinct_prompts']} distinct prompts, features {args.features}, "
          f"{args.folds} folds grouped by prompt" + (f", {meta['skipped_rows']} malformed rows skipped" if meta["skipped_rows"] else ""))
    print(format_cv(report))
    if args.out:
        print(f"saved to {model.save(args.out)}")
    return 0


def _add_calibrate(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("calibrate", help="fit the learned heuristic on real policy answers",
                       description="Spend a stated number of policy calls on rewrites of training prompts, score "
                                   "the answers with the reference model, fit the heuristic and save it; print its "
                                   "held-out Spearman per attribute, with and without online updates.")
    p.add_argument("--data", required=True, help="HelpSteer-style file whose prompts are used")
    p.add_argument("--train-prompts", type=int, default=D.CALIBRATION_TRAIN_PROMPTS)
    p.add_argument("--heldout-prompts", type=int, default=D.CALIBRATION_HELDOUT_PROMPTS)
    p.add_argument("--rewrites", type=int, default=D.CALIBRATION_REWRITES, help="rewrites per prompt, each answered once")
    p.add_argument("--policy-calls", type=int, default=D.CALIBRATION_POLICY_CALLS, help="policy calls to spend in all")
    p.add_argument("--max-prompt-words", type=int, default=D.CALIBRATION_MAX_PROMPT_WORDS, help="use only prompts this short")
    p.add_argument("--max-tokens", type=int, default=D.POLICY_MAX_TOKENS, help="policy answer length cap")
    p.add_argument("--all-prompts", action="store_true",
                   help="use evaluation prompts too (by default only the development split is used, so the "
                        "quality benchmarks never evaluate on a prompt the heuristic was fitted on)")
    p.add_argument("--reference-file", help="attribute model (default: the shipped one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="where to save the heuristic (JSON)")
    p.add_argument("--memory-dir", help="where the shipped heuristic keeps what it learns of each policy "
                                        "(default: $HIA_MEMORY_DIR, else ~/.cache/hia/policies)")
    add_endpoint_args(p)
    return p


def _calibrate(args: argparse.Namespace) -> int:
    import asyncio
    import random

    for option in ("train_prompts", "heldout_prompts", "rewrites", "policy_calls", "max_tokens"):
        value = getattr(args, option)
        if value < 1:  # checked before anything is paid for
            raise InputError(f"--{option.replace('_', '-')} must be at least 1, got {value}")

    model_file(args.out)  # before the calls are paid for
    from hia.build import build, build_policy
    from hia.data import load_helpsteer
    from hia.data.splits import split_prompts
    from hia.models.policy import as_policy_fn
    from hia.training.calibration import calibrate

    prompts = sorted({r.prompt for r in load_helpsteer(args.data).rows if len(r.prompt.split()) <= args.max_prompt_words})
    if not args.all_prompts:
        prompts = split_prompts(prompts, "dev")
    random.Random(args.seed).shuffle(prompts)
    need = args.train_prompts + args.heldout_prompts
    if len(prompts) < need:
        raise HiaError(f"{args.data} has {len(prompts)} {'' if args.all_prompts else 'development '}prompts of at most "
                       f"{args.max_prompt_words} words; {need} are needed (lower --train-prompts/--heldout-prompts, "
                       "raise --max-prompt-words, or pass --all-prompts)")
    train, heldout = prompts[: args.train_prompts], prompts[args.train_prompts:need]
    with endpoints(args) as eps, build(settings_from(args, eps), policy=eps.policy) as pipeline, \
            build_policy(eps.policy, max_tokens=args.max_tokens) as chat:
        shipped = pipeline.heuristic_for(chat)  # the policy's memory, as every command shares it
        heuristic, report = asyncio.run(calibrate(
            train, heldout, optimizer=pipeline.optimizer, policy=as_policy_fn(chat), reference=pipeline.reference,
            attributes=pipeline.reference.attributes, rewrites=args.rewrites, policy_calls=args.policy_calls,
            shipped=shipped, seed=args.seed))
        memory = getattr(shipped, "memory", None)
        if memory is not None:
            memory.flush()
    heuristic.save(args.out)
    u = report.usage
    print(f"{report.train_prompts} training prompts ({report.train_evidence} answered rewrites), "
          f"{report.heldout_prompts} held-out prompts ({report.heldout_evidence}); {u.policy_calls} policy calls, "
          f"{u.optimizer_calls} optimizer calls, {report.seconds:.0f} s")
    print("held-out Spearman, predicted vs reference scores of the policy's answers:")
    columns = [k for k in ("zero_shot", "offline", "online", "shipped_before", "shipped") if k in report.spearman]
    print(f"{'attribute':<12} " + " ".join(f"{k.replace('_', '-'):>14}" for k in columns))
    for a in report.attributes:
        print(f"{a:<12} " + " ".join(f"{report.spearman[k][a]:>14.3f}" for k in columns))
    print(f"saved to {args.out}; the shipped heuristic's memory of this policy learned the same answers"
          + (f" ({memory.path})" if memory is not None and memory.path else ""))
    return 0


def _add_train_preference(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train-preference", help="train a community preference (Bradley-Terry) model",
                       description="Train a Bradley-Terry model on sentence embeddings of (question, answer) per "
                                   "community and print its pair accuracy under question-grouped cross-validation.")
    p.add_argument("--data", required=True, help="preference data file")
    p.add_argument("--format", choices=("stackexchange", "compred", "pairs"), default="stackexchange",
                   help="stackexchange: questions with voted answers; compred: ComPRed rows; pairs: prompt/chosen/rejected")
    p.add_argument("--folds", type=int, default=D.CV_FOLDS)
    p.add_argument("--c", type=float, default=D.PREFERENCE_C, help="inverse regularisation strength")
    p.add_argument("--out", help="where to save the model (default: print only)")
    return p


def _train_preference(args: argparse.Namespace) -> int:
    from hia.data import load_compred, load_helpsteer_pairs, load_stackexchange_pairs
    from hia.rewards.preference import CommunityPreferenceModel, pair_accuracy_cv

    if args.out:
        model_file(args.out)
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


def _add_train_prior(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train-prior", help="fit the question prior of the heuristic on rated data",
                       description="Measure every response in HelpSteer-style files (rated rows or chosen/rejected "
                                   "pairs), average per question, and fit the prior that predicts, from a question "
                                   "alone, how long and how complex answers to it tend to be. Development-split "
                                   "prompts only, unless --all-prompts.")
    p.add_argument("--data", required=True, nargs="+", help="HelpSteer-style .jsonl files")
    p.add_argument("--all-prompts", action="store_true", help="use evaluation prompts too (then do not benchmark on them)")
    p.add_argument("--folds", type=int, default=D.CV_FOLDS)
    p.add_argument("--out", help="where to save the prior (default: print only)")
    return p


def _train_prior(args: argparse.Namespace) -> int:
    from hia.training.prior import train_prior

    if args.out:
        model_file(args.out)
    prior, report = train_prior(args.data, all_prompts=args.all_prompts, folds=args.folds)
    print(f"{report.prompts} questions, {report.responses} responses ({prior.metadata['split']} split)")
    print(f"{'attribute':<12} {'alpha':>6} {'cv spearman':>11} {'between sd':>10} {'within sd':>9}")
    for name in report.alpha:
        print(f"{name:<12} {report.alpha[name]:>6g} {report.cv_spearman[name]:>11.3f} {report.between_sd[name]:>10.3f} "
              f"{report.within_sd[name]:>9.3f}")
    if args.out:
        print(f"saved to {prior.save(args.out)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_train_reference(sub).set_defaults(run=_train_reference)
    _add_train_prior(sub).set_defaults(run=_train_prior)
    _add_calibrate(sub).set_defaults(run=_calibrate)
    _add_train_preference(sub).set_defaults(run=_train_preference)
