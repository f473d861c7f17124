"""Route each attribute to the reference model that knows it (e.g. HelpSteer attributes to the
attribute model, `community` to a community preference model)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..errors import RewardModelError
from ..usage import Usage
from .base import ReferenceRewardModel, check_scores


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
        out = np.zeros((len(responses), len(attributes)))
        for model, columns in self._groups(attributes):
            names = [attributes[j] for j in columns]
            out[:, columns] = check_scores(model.score(prompts, responses, names, usage=usage), len(responses), names, model)
        return out

    async def ascore(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
                     usage: Usage | None = None) -> np.ndarray:
        out = np.zeros((len(responses), len(attributes)))
        for model, columns in self._groups(attributes):
            names = [attributes[j] for j in columns]
            raw = await model.ascore(prompts, responses, names, usage=usage)
            out[:, columns] = check_scores(raw, len(responses), names, model)
        return out

    def agreement(self, attribute: str) -> float | None:
        model = self.routes.get(attribute)
        return None if model is None else model.agreement(attribute)
