"""The result of an alignment: every candidate, why it was kept or dropped, and what it cost."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from hia.core.goal import Goal
from hia.core.usage import Usage

Source = Literal["seed", "optimizer", "template", "resample"]
Stage = Literal["stage1", "stage2", "search", "error"]


@dataclass
class Evaluation:
    """One policy call on a candidate and the reference model's verdict on its answer."""

    response: str
    scores: dict[str, float]  # reference scores of the response, per goal attribute
    rewards: dict[str, float]  # every reward function's value against the goal
    seed: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"response": self.response, "scores": dict(self.scores), "rewards": dict(self.rewards), "seed": self.seed,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "finish_reason": self.finish_reason}


@dataclass
class Candidate:
    """A prompt the search considered, with its fate."""

    id: int
    prompt: str
    round: int
    source: Source
    parent_id: int | None = None
    status: Literal["pending", "kept", "dropped", "evaluated", "failed"] = "pending"
    dropped_by: Stage | None = None
    reason: str | None = None
    similarity: float | None = None  # cosine to the user's prompt (stage 1)
    heuristic_scores: dict[str, float] | None = None  # predicted scores (stage 2)
    heuristic_reward: float | None = None
    evaluation: Evaluation | None = None

    # Every change of a candidate's fate goes through these four methods.
    def keep(self) -> None:
        """Survived a filter (it may still be dropped by a later one)."""
        self.status, self.dropped_by = "kept", None

    def drop(self, by: Stage, reason: str) -> None:
        self.status, self.dropped_by, self.reason = "dropped", by, reason

    def fail(self, reason: str) -> None:
        """Its policy call failed for good; its budget unit was released."""
        self.status, self.dropped_by, self.reason = "failed", "error", reason

    def answer(self, evaluation: "Evaluation") -> None:
        self.status, self.dropped_by, self.evaluation = "evaluated", None, evaluation

    def to_dict(self) -> dict[str, Any]:
        """As dataclasses.asdict makes it, a few times faster (a batch writes one per candidate)."""
        return {"id": self.id, "prompt": self.prompt, "round": self.round, "source": self.source,
                "parent_id": self.parent_id, "status": self.status, "dropped_by": self.dropped_by,
                "reason": self.reason, "similarity": self.similarity,
                "heuristic_scores": None if self.heuristic_scores is None else dict(self.heuristic_scores),
                "heuristic_reward": self.heuristic_reward,
                "evaluation": None if self.evaluation is None else self.evaluation.to_dict()}


@dataclass
class ErrorRecord:
    """A failure that did not stop the alignment (a policy call that failed for good, say)."""

    type: str
    message: str
    stage: str
    candidate_id: int | None = None


@dataclass
class AlignmentResult:
    prompt: str
    goal: Goal
    method: str
    budget: int
    objective: str
    candidates: list[Candidate] = field(default_factory=list)
    chosen_id: int | None = None
    usage: Usage = field(default_factory=Usage)
    errors: list[ErrorRecord] = field(default_factory=list)

    @property
    def chosen(self) -> Candidate | None:
        return None if self.chosen_id is None else self.candidates[self.chosen_id]

    @property
    def response(self) -> str | None:
        chosen = self.chosen
        return chosen.evaluation.response if chosen and chosen.evaluation else None

    @property
    def evaluated(self) -> list[Candidate]:
        return [c for c in self.candidates if c.evaluation is not None]

    @property
    def reward(self) -> float | None:
        chosen = self.chosen
        return chosen.evaluation.rewards[self.objective] if chosen and chosen.evaluation else None

    def to_dict(self) -> dict[str, Any]:
        chosen = self.chosen
        return {
            "response": self.response,
            "method": self.method,
            "budget": self.budget,
            "objective": self.objective,
            "prompt": self.prompt,
            "goal": self.goal.to_dict(),
            "chosen_id": self.chosen_id,
            "chosen_prompt": chosen.prompt if chosen else None,
            "scores": chosen.evaluation.scores if chosen and chosen.evaluation else None,
            "rewards": chosen.evaluation.rewards if chosen and chosen.evaluation else None,
            "candidates": [c.to_dict() for c in self.candidates],
            "usage": self.usage.to_dict(),
            "errors": [asdict(e) for e in self.errors],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)
