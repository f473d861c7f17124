"""Route each attribute to the reference model that knows it (e.g. HelpSteer attributes to the
attribute model, `community` to a community preference model)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from hia.core.usage import Usage
from hia.errors import RewardModelError
from hia.rewards.base import ReferenceRewardModel, check_scores


class CompositeReference(ReferenceRewardModel):
    def __init__(self, routes: Mapping[str, ReferenceRewardModel]) -> None:
        self.routes = dict(routes)

    def _groups(self, attributes: Sequence[str]) -> list[tuple[ReferenceRewardModel, list[int]]]:
        groups: dict[int, tuple[ReferenceRewardModel, list[int]]] = {}
        for j, name in enumerate(attributes):
            if name not in self.routes:
                raise RewardModelError(f"no reference model scores {name!r}; routes cover {sorted(self.routes)}")
            model = self.routes[name]
            groups.setdefault(id(model), (model, []))[1].append(j)
        return list(groups.values())

    def score(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
              usage: Usage | None = None) -> np.ndarray:
        groups = self._groups(attributes)
        raw = [model.score(prompts, responses, [attributes[j] for j in columns], usage=usage) for model, columns in groups]
        return self._combine(groups, raw, attributes, len(responses))

    async def ascore(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
                     usage: Usage | None = None) -> np.ndarray:
        groups = self._groups(attributes)
        raw = [await model.ascore(prompts, responses, [attributes[j] for j in columns], usage=usage)
               for model, columns in groups]
        return self._combine(groups, raw, attributes, len(responses))

    @staticmethod
    def _combine(groups: list[tuple[ReferenceRewardModel, list[int]]], raw: list[object],
                 attributes: Sequence[str], n: int) -> np.ndarray:
        """Each model's columns, checked, in the order the attributes were asked for."""
        out = np.zeros((n, len(attributes)))
        for (model, columns), scores in zip(groups, raw):
            out[:, columns] = check_scores(scores, n, [attributes[j] for j in columns], model)
        return out

    def agreement(self, attribute: str) -> float | None:
        model = self.routes.get(attribute)
        return None if model is None else model.agreement(attribute)
