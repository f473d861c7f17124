"""Offline calibration (`hia calibrate`): the learned heuristic's file, and the shipped heuristic's
memory of the policy, from the same paid answers; and their measured quality.

For each training prompt: draw a random goal (seeded), ask the optimizer for rewrites toward it,
spend policy calls on the rewrites, score the answers with the reference model, and keep each
(rewrite, scores) as evidence. Held-out prompts get the same treatment and measure the heuristic:
Spearman correlation between its predicted scores and the reference scores of the answers, for
the zero-shot heuristic, for the calibrated one (offline), and for the calibrated one updated
online after each held-out prompt (each prompt's rewrites are predicted before they are learnt).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from hia.core.budget import Budget
from hia.core.goal import Goal
from hia.core.stats import spearman
from hia.core.usage import Usage
from hia.data.splits import prompt_id
from hia.errors import HiaError
from hia.models.optimizer import PromptOptimizer, TemplateOptimizer
from hia.models.policy import PolicyFn
from hia.rewards.base import HeuristicRewardModel, ReferenceRewardModel, check_scores
from hia.rewards.heuristic import ZeroShotHeuristic
from hia.rewards.learned import LearnedHeuristic


@dataclass
class Evidence:
    source: str  # the user's prompt the rewrite came from
    prompt: str  # the rewrite the policy answered
    scores: dict[str, float]


@dataclass
class CalibrationReport:
    attributes: list[str]
    spearman: dict[str, dict[str, float]]  # {"zero_shot"|"offline"|"online": {attribute: rho}}
    train_prompts: int
    heldout_prompts: int
    train_evidence: int
    heldout_evidence: int
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0


async def collect_evidence(prompts: Sequence[str], *, optimizer: PromptOptimizer, policy: PolicyFn,
                           reference: ReferenceRewardModel, attributes: Sequence[str], rewrites: int,
                           budget: Budget, usage: Usage, seed: int = 0) -> list[list[Evidence]]:
    """Evidence per prompt, in order. Stops early when the budget runs out."""
    rng = random.Random(seed)
    templates = TemplateOptimizer()
    out: list[list[Evidence]] = []
    for source in prompts:
        if budget.remaining <= 0:
            break
        # A random goal over one or two attributes spreads the rewrites over the attribute space.
        names = rng.sample(list(attributes), k=min(len(attributes), rng.choice([1, 2])))
        goal = Goal({n: float(rng.choice([0, 1, 3, 4])) for n in names})
        try:
            candidates = await optimizer.propose(source, goal, rewrites, usage=usage)
        except HiaError:
            candidates = []
        if len(candidates) < rewrites:
            candidates += await templates.propose(source, goal, rewrites - len(candidates))
        group: list[tuple[str, str]] = []
        for i, candidate in enumerate(dict.fromkeys(candidates)):
            reservation = budget.try_reserve()
            if reservation is None:
                break
            with reservation:
                try:
                    reply = await policy([{"role": "user", "content": candidate}], seed + len(out) * 100 + i, usage)
                except HiaError:
                    continue
                reservation.commit()
            group.append((candidate, reply.text))
        if not group:
            continue
        raw = await reference.ascore([source] * len(group), [r for _, r in group], list(attributes), usage=usage)
        scores = check_scores(raw, len(group), attributes, reference)
        out.append([Evidence(source, c, dict(zip(attributes, map(float, row)))) for (c, _), row in zip(group, scores)])
    return out


def teach(heuristic: HeuristicRewardModel, groups: list[list[Evidence]], attributes: Sequence[str]) -> None:
    """What each group of answers says about the policy, given to `heuristic` as a paid answer's
    would be during use (online learning and calibration teach the same model)."""
    for group in groups:
        heuristic.update_for(group[0].source, [e.prompt for e in group],
                             np.array([[e.scores[a] for a in attributes] for e in group]), attributes)


def predictions(heuristic: HeuristicRewardModel, groups: list[list[Evidence]], attributes: Sequence[str]) -> np.ndarray:
    rows = [heuristic.predict_for(group[0].source, [e.prompt for e in group], attributes) for group in groups]
    return np.vstack(rows) if rows else np.zeros((0, len(attributes)))


def evaluate(train: list[list[Evidence]], heldout: list[list[Evidence]], attributes: Sequence[str], *,
             zero_shot: HeuristicRewardModel, learned: LearnedHeuristic,
             shipped: HeuristicRewardModel | None = None) -> dict[str, dict[str, float]]:
    """Spearman of zero-shot, offline-calibrated and online-updated predictions on held-out rewrites;
    with `shipped` (the PolicyHeuristic in use), its predictions before and after it is taught
    the training answers (`shipped_before`, `shipped`)."""
    flat = [e for group in heldout for e in group]
    actual = np.array([[e.scores[a] for a in attributes] for e in flat])
    results = {"zero_shot": zero_shot.predict([e.prompt for e in flat], attributes)}
    if shipped is not None:
        results["shipped_before"] = predictions(shipped, heldout, attributes)
        teach(shipped, train, attributes)
        results["shipped"] = predictions(shipped, heldout, attributes)
        teach(shipped, heldout, attributes)  # then all of it is kept, as use would keep it
    for group in train:
        learned.update([e.prompt for e in group], np.array([[e.scores[a] for a in attributes] for e in group]), attributes)
    results["offline"] = learned.predict([e.prompt for e in flat], attributes)
    online = []
    for group in heldout:  # predict a prompt's rewrites, then learn from their answers
        online.append(learned.predict([e.prompt for e in group], attributes))
        learned.update([e.prompt for e in group], np.array([[e.scores[a] for a in attributes] for e in group]), attributes)
    results["online"] = np.vstack(online) if online else np.zeros((0, len(attributes)))
    return {name: {a: spearman(pred[:, j], actual[:, j]) for j, a in enumerate(attributes)}
            for name, pred in results.items()}


async def calibrate(train_prompts: Sequence[str], heldout_prompts: Sequence[str], *, optimizer: PromptOptimizer,
                    policy: PolicyFn, reference: ReferenceRewardModel, attributes: Sequence[str], rewrites: int,
                    policy_calls: int, heuristic: LearnedHeuristic | None = None,
                    shipped: HeuristicRewardModel | None = None,
                    seed: int = 0) -> tuple[LearnedHeuristic, CalibrationReport]:
    """Collect evidence, measure, and return the heuristic fitted on all of it. `shipped`, the
    PolicyHeuristic the pipeline uses for this policy, is taught every answer too: what it learns
    is kept in the policy's memory, which `hia align`, batches, the wrapper and the proxy share."""
    start = time.perf_counter()
    usage = Usage()
    # Reserve a share of the calls for the held-out prompts so the measurement always happens.
    heldout_calls = min(policy_calls // 3 or 1, len(heldout_prompts) * rewrites)
    train_budget, heldout_budget = Budget(max(1, policy_calls - heldout_calls)), Budget(max(1, heldout_calls))
    common = dict(optimizer=optimizer, policy=policy, reference=reference, attributes=attributes,
                  rewrites=rewrites, usage=usage)
    train = await collect_evidence(train_prompts, budget=train_budget, seed=seed, **common)
    heldout = await collect_evidence(heldout_prompts, budget=heldout_budget, seed=seed + 1, **common)
    learned = heuristic or LearnedHeuristic()
    spearman = evaluate(train, heldout, attributes, zero_shot=ZeroShotHeuristic(learned.embedder), learned=learned,
                        shipped=shipped)
    learned.metadata.update({
        "calibration_prompts": sorted(prompt_id(p) for p in [*train_prompts, *heldout_prompts]),
        "spearman": spearman, "attributes": list(attributes),
    })
    report = CalibrationReport(list(attributes), spearman, len(train), len(heldout),
                               sum(map(len, train)), sum(map(len, heldout)), usage, time.perf_counter() - start)
    return learned, report
