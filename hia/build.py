"""The one place that turns settings into an aligner.

`hia align`, `hia serve` (and so the proxy and the wrapper it runs), `hia calibrate` and the
benchmarks all build their policy, reference, optimizer, heuristic, cache and aligners here, so
the same options mean the same pipeline everywhere.

    settings = Settings(reference="exact", optimizer=Endpoint("http://127.0.0.1:8081/v1", "smollm2"))
    with build(settings, policy=Endpoint("https://api.openai.com/v1", "gpt-4o-mini", key)) as pipeline:
        result = pipeline.aligner(build_policy(endpoint)).align(prompt, goal, budget=2)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hia.engine.aligner import Aligner, AsyncAligner
from hia.errors import InputError
from hia.models.chat import public_url
from hia.models.embeddings import Embedder
from hia.models.local import cache_dir
from hia.models.optimizer import LLMOptimizer, PromptOptimizer, TemplateOptimizer
from hia.models.policy import AsyncChatPolicy, ChatPolicy, PolicySpec
from hia.models.ratelimit import Pace
from hia.rewards.base import HeuristicRewardModel, ReferenceRewardModel
from hia.rewards.cached import CachedReference
from hia.rewards.policy_memory import PolicyMemory, memory_file, policy_key
from hia.rewards.shipped import default_heuristic, default_reference
from hia.search.options import SearchOptions
from hia.storage.cache import Cache

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
    heuristic_file: a learned heuristic from `hia calibrate` (default: the shipped PolicyHeuristic).
    remember_policy: keep what the shipped heuristic learns about each policy in `memory_dir`
    (default: $HIA_MEMORY_DIR, else ~/.cache/hia/policies), shared by every process that uses it.
    cache_file: a SQLite file caching embeddings and reference scores across runs (default: memory).
    search: the search options (method, objective, budgets, seed, sizes), passed whole to the aligner.
    """

    reference: str = "attributes"
    reference_file: str | None = None
    judge: Endpoint | None = None
    optimizer: Endpoint | None = None
    heuristic_file: str | None = None
    remember_policy: bool = True
    memory_dir: str | None = None
    cache_file: str | None = None
    search: SearchOptions = SearchOptions()

    def __post_init__(self) -> None:
        if self.reference not in REFERENCES:
            raise InputError(f"unknown reference {self.reference!r}; choose one of {', '.join(REFERENCES)}")
        if not isinstance(self.search, SearchOptions):
            raise InputError(f"search must be a hia.SearchOptions, got {type(self.search).__name__}")


@dataclass(frozen=True)
class Recipe:
    """How a Ray worker makes the aligner this process has: the settings and the policy's spec,
    plain picklable values (the Ray engine calls it; it never imports this module)."""

    settings: Settings
    policy: PolicySpec

    @property
    def rate_limit(self) -> float | None:
        return self.policy.rate_limit

    @property
    def rate_limit_name(self) -> str:
        return policy_key(public_url(self.policy.base_url), self.policy.model)

    def __call__(self, rate_limiter: Pace | None) -> AsyncAligner:
        endpoint = Endpoint(self.policy.base_url, self.policy.model, self.policy.api_key)
        return build(self.settings, policy=endpoint).async_aligner(self.policy.make(rate_limiter))


@dataclass
class Pipeline:
    """The built parts, ready to make aligners for any policy. Close it (or use `with`) to close the cache."""

    settings: Settings
    reference: ReferenceRewardModel
    optimizer: PromptOptimizer
    heuristic: HeuristicRewardModel | None  # the one from heuristic_file; None: the shipped one, per policy
    embedder: Embedder | None
    store: Cache
    learned: dict[str, HeuristicRewardModel] = field(default_factory=dict)  # the shipped heuristic, per policy

    def heuristic_for(self, policy: Any) -> HeuristicRewardModel:
        """The heuristic for `policy`: the settings' file, or the shipped heuristic with what it
        has learned about this policy (kept per endpoint and model; in memory for a callable)."""
        if self.heuristic is not None:
            return self.heuristic
        # Known by its endpoint and model, also when it runs on a client object (the wrapper, the proxy).
        endpoint = policy.asynchronous if isinstance(policy, (ChatPolicy, AsyncChatPolicy)) else None
        who = policy_key(public_url(endpoint.base_url), endpoint.model) if endpoint is not None else None
        key = who or f"callable:{id(policy)}"
        if key not in self.learned:
            memory = None
            if who is not None and self.settings.remember_policy:
                folder = self.settings.memory_dir or os.environ.get("HIA_MEMORY_DIR") or cache_dir() / "policies"
                memory = PolicyMemory(memory_file(folder, who), policy=who)
            self.learned[key] = default_heuristic(self.embedder, memory)
        return self.learned[key]

    def async_aligner(self, policy: Any, *, reference: ReferenceRewardModel | None = None,
                      options: SearchOptions | None = None) -> AsyncAligner:
        """An aligner on `policy` with the built parts; `reference` and `options` replace the settings' own."""
        spec = policy.spec if isinstance(policy, (ChatPolicy, AsyncChatPolicy)) else None
        settings = self.settings if options is None else replace(self.settings, search=options)
        recipe = Recipe(settings, spec) if spec is not None and reference is None else None
        return AsyncAligner(policy, reference or self.reference, optimizer=self.optimizer,
                            heuristic=self.heuristic_for(policy), embedder=self.embedder, options=settings.search,
                            recipe=recipe)

    def aligner(self, policy: Any, *, reference: ReferenceRewardModel | None = None,
                options: SearchOptions | None = None) -> Aligner:
        """The blocking twin of async_aligner."""
        made = self.async_aligner(policy, reference=reference, options=options)
        return Aligner(made.policy, made.reference, optimizer=made.optimizer, heuristic=made.heuristic,
                       embedder=self.embedder, options=made.options, recipe=made.recipe)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_policy(endpoint: Endpoint, *, blocking: bool = True, **params: Any) -> ChatPolicy | AsyncChatPolicy:
    """The policy on `endpoint`: every command and benchmark makes its policy here."""
    kind = ChatPolicy if blocking else AsyncChatPolicy
    return kind(endpoint.model, base_url=endpoint.base_url, api_key=endpoint.api_key, **params)


def build_reference(settings: Settings, store: Cache, policy: Endpoint | None = None) -> ReferenceRewardModel:
    """The reference model `settings` names, behind a score cache where scoring costs anything."""
    if settings.reference == "exact":
        from hia.rewards.exact import ExactReference

        return ExactReference()  # text measures: nothing worth caching
    if settings.reference == "judge":
        from hia.rewards.judge import LLMJudge

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
    """The learned heuristic from `heuristic_file`, or None (each aligner then gets the shipped one)."""
    if not settings.heuristic_file:
        return None
    from hia.rewards.learned import LearnedHeuristic

    return LearnedHeuristic.load(settings.heuristic_file, embedder=embedder)


def build(settings: Settings = Settings(), *, policy: Endpoint | None = None) -> Pipeline:
    """Every part `settings` asks for. `policy` is the policy's endpoint, which a judge may share."""
    if settings.cache_file is not None and Path(settings.cache_file).is_dir():
        raise InputError(f"--cache-file {settings.cache_file} is a folder; give a file path for the SQLite cache")
    store = Cache(settings.cache_file) if settings.cache_file else Cache()  # in memory unless a file is given
    embedder = Embedder(store=store) if settings.cache_file else None
    return Pipeline(settings, build_reference(settings, store, policy), build_optimizer(settings),
                    build_heuristic(settings, embedder), embedder, store)
