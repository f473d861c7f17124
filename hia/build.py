"""The one place that turns settings into an aligner.

`hia align`, `hia serve` (and so the proxy and the wrapper it runs), `hia calibrate` and the
benchmarks all build their reference, optimizer, heuristic and cache here, so the same options
mean the same pipeline everywhere.

    settings = Settings(reference="exact", optimizer=Endpoint("http://127.0.0.1:8081/v1", "smollm2"))
    with build(settings, policy=Endpoint("https://api.openai.com/v1", "gpt-4o-mini", key)) as pipeline:
        result = pipeline.aligner(ChatPolicy(...)).align(prompt, goal, budget=2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _defaults as D
from ._chat import public_url
from .aligner import Aligner, AsyncAligner
from .cache import Cache, CachedReference
from .errors import InputError
from .optimizer import LLMOptimizer, PromptOptimizer, TemplateOptimizer
from .rewards.base import HeuristicRewardModel, ReferenceRewardModel
from .rewards.embeddings import Embedder
from .training import default_reference

REFERENCES = ("attributes", "exact", "judge")


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible endpoint and the model it serves. The key never shows in a repr."""

    base_url: str | None
    model: str
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    """Everything that decides how answers are aligned, apart from the policy itself.

    reference: "attributes" (the trained HelpSteer model, `reference_file` or the shipped one),
    "exact" (text measures) or "judge" (an LLM judge on `judge`, by default the policy's endpoint).
    optimizer: an LLM optimizer's endpoint, or None for TemplateOptimizer (no model).
    heuristic_file: a learned heuristic from `hia calibrate` (default: the zero-shot heuristic).
    cache_file: a SQLite file caching embeddings and reference scores across runs (default: memory).
    """

    reference: str = "attributes"
    reference_file: str | None = None
    judge: Endpoint | None = None
    optimizer: Endpoint | None = None
    heuristic_file: str | None = None
    cache_file: str | None = None
    online_learning: bool = True
    method: str = D.DEFAULT_METHOD
    objective: str = D.DEFAULT_OBJECTIVE
    seed: int = D.POLICY_BASE_SEED
    hia_candidates: int = D.HIA_CANDIDATES_PER_ROUND
    beam_width: int = D.BEAM_WIDTH
    beam_expansions: int = D.BEAM_EXPANSIONS
    max_budget: int = D.MAX_BUDGET

    def __post_init__(self) -> None:
        if self.reference not in REFERENCES:
            raise InputError(f"unknown reference {self.reference!r}; choose one of {', '.join(REFERENCES)}")


@dataclass
class Pipeline:
    """The built parts, ready to make aligners for any policy. Close it (or use `with`) to close the cache."""

    settings: Settings
    reference: ReferenceRewardModel
    optimizer: PromptOptimizer
    heuristic: HeuristicRewardModel | None
    embedder: Embedder | None
    store: Cache

    def aligner_options(self) -> dict[str, Any]:
        """The keyword arguments of AsyncAligner / Aligner beside the policy and the reference."""
        s = self.settings
        return {"optimizer": self.optimizer, "heuristic": self.heuristic, "embedder": self.embedder,
                "online_learning": s.online_learning, "method": s.method, "objective": s.objective, "seed": s.seed,
                "hia_candidates": s.hia_candidates, "beam_width": s.beam_width, "beam_expansions": s.beam_expansions,
                "max_budget": s.max_budget}

    def async_aligner(self, policy: Any) -> AsyncAligner:
        aligner = AsyncAligner(policy, self.reference, **self.aligner_options())
        aligner.settings = self.settings  # so the Ray engine's workers can build the same aligner
        return aligner

    def aligner(self, policy: Any) -> Aligner:
        aligner = Aligner(policy, self.reference, **self.aligner_options())
        aligner.settings = self.settings
        return aligner

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_reference(settings: Settings, store: Cache, policy: Endpoint | None = None) -> ReferenceRewardModel:
    """The reference model `settings` names, behind a score cache where scoring costs anything."""
    if settings.reference == "exact":
        from .rewards.exact import ExactReference

        return ExactReference()  # text measures: nothing worth caching
    if settings.reference == "judge":
        from .rewards.judge import LLMJudge

        endpoint = settings.judge or policy
        if endpoint is None:
            raise InputError("the judge needs an endpoint: give a judge endpoint (--judge-base-url/--judge-model) "
                             "or a policy endpoint it can share")
        judge = LLMJudge(endpoint.model, base_url=endpoint.base_url, api_key=endpoint.api_key)
        return CachedReference(judge, store, f"judge:{public_url(endpoint.base_url or '')}:{endpoint.model}")
    attributes = default_reference(settings.reference_file)
    return CachedReference(attributes, store, f"attributes:{attributes.fingerprint}")


def build_optimizer(settings: Settings) -> PromptOptimizer:
    """An LLM optimizer on the endpoint `settings` names, or the template optimizer."""
    if settings.optimizer is None:
        return TemplateOptimizer()
    o = settings.optimizer
    return LLMOptimizer(o.model, base_url=o.base_url, api_key=o.api_key)


def build_heuristic(settings: Settings, embedder: Embedder | None) -> HeuristicRewardModel | None:
    """The learned heuristic from `heuristic_file`, or None (the aligner then makes the zero-shot one)."""
    if not settings.heuristic_file:
        return None
    from .rewards.learned import LearnedHeuristic

    return LearnedHeuristic.load(settings.heuristic_file, embedder=embedder)


def build(settings: Settings = Settings(), *, policy: Endpoint | None = None) -> Pipeline:
    """Every part `settings` asks for. `policy` is the policy's endpoint, which a judge may share."""
    if settings.cache_file is not None and Path(settings.cache_file).is_dir():
        raise InputError(f"--cache-file {settings.cache_file} is a folder; give a file path for the SQLite cache")
    store = Cache(settings.cache_file) if settings.cache_file else Cache()  # in memory unless a file is given
    embedder = Embedder(store=store) if settings.cache_file else None
    return Pipeline(settings, build_reference(settings, store, policy), build_optimizer(settings),
                    build_heuristic(settings, embedder), embedder, store)
