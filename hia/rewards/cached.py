"""A reference model behind the score cache: each (prompt, response, attribute) is scored once."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hia.core.usage import Usage
from hia.rewards.base import ReferenceRewardModel
from hia.storage.cache import Cache, content_key


class CachedReference(ReferenceRewardModel):
    """Wraps a reference model so each (prompt, response, attribute) is scored once."""

    def __init__(self, inner: ReferenceRewardModel, cache: Cache, model_id: str) -> None:
        self.inner = inner
        self.cache = cache
        self.namespace = f"reference:{model_id}"

    def _plan(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str]):
        keys = [[content_key(p, r, a) for a in attributes] for p, r in zip(prompts, responses)]
        found = self.cache.get_many(self.namespace, [k for row in keys for k in row])
        todo = [i for i, row in enumerate(keys) if any(k not in found for k in row)]
        return keys, found, todo

    def _finish(self, keys, found, todo, fresh: np.ndarray, n_attributes: int) -> np.ndarray:
        new = {keys[i][j]: float(fresh[t, j]).hex().encode() for t, i in enumerate(todo) for j in range(n_attributes)}
        self.cache.put_many(self.namespace, new)
        found = {**found, **new}
        return np.array([[float.fromhex(found[k].decode()) for k in row] for row in keys]).reshape(len(keys), n_attributes)

    def score(self, prompts, responses, attributes, *, usage: Usage | None = None) -> np.ndarray:
        keys, found, todo = self._plan(prompts, responses, attributes)
        fresh = self.inner.score([prompts[i] for i in todo], [responses[i] for i in todo], attributes, usage=usage) \
            if todo else np.zeros((0, len(attributes)))
        return self._finish(keys, found, todo, np.asarray(fresh, dtype=float), len(attributes))

    def agreement(self, attribute: str) -> float | None:
        return self.inner.agreement(attribute)

    def __getattr__(self, name: str) -> object:
        if name == "inner":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)  # the wrapped model's own fields (attributes, metadata, ...)

    async def ascore(self, prompts, responses, attributes, *, usage: Usage | None = None) -> np.ndarray:
        keys, found, todo = self._plan(prompts, responses, attributes)
        fresh = await self.inner.ascore([prompts[i] for i in todo], [responses[i] for i in todo], attributes,
                                        usage=usage) if todo else np.zeros((0, len(attributes)))
        return self._finish(keys, found, todo, np.asarray(fresh, dtype=float), len(attributes))
