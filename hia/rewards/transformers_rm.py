"""A Hugging Face sequence-classification reward model as a reference reward model.

Works with single-score reward models and multi-head (multi-attribute) ones. `heads` maps
attributes to output indices; without it, the model's `id2label` names are used where they are
registered attributes. `affine` maps a head's raw output to the attribute's scale
(score = a * raw + b, then clipped to the range). Runs batched, on the GPU when there is one.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping, Sequence

import numpy as np

from hia import _defaults as D
from hia.core.attributes import get_attribute, known_attributes
from hia.core.usage import Usage
from hia.errors import RewardModelError
from hia.models.embeddings import default_device, need_hf
from hia.rewards.base import ReferenceRewardModel


class TransformersRewardModel(ReferenceRewardModel):
    def __init__(self, model: str, *, heads: Mapping[str, int] | None = None,
                 affine: Mapping[str, tuple[float, float]] | None = None, device: str | None = None,
                 batch_size: int = D.TRANSFORMERS_BATCH_SIZE, max_length: int = D.TRANSFORMERS_MAX_LENGTH, **from_pretrained: Any) -> None:
        need_hf("a Hugging Face reward model")
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, **from_pretrained)
            self.model = AutoModelForSequenceClassification.from_pretrained(model, **from_pretrained)
        except (OSError, ValueError) as exc:
            raise RewardModelError(f"could not load reward model {model!r}: {exc}") from None
        self.device = device or default_device()
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        n_heads = int(self.model.config.num_labels)
        if heads is None:
            labels = {str(v): int(k) for k, v in (self.model.config.id2label or {}).items()}
            heads = {name: index for name, index in labels.items() if name in known_attributes()}
            if not heads:
                raise RewardModelError(f"reward model {model!r} names no known attribute in id2label "
                                       f"({sorted(labels)}); pass heads={{'helpfulness': 0, ...}}")
        bad = {a: i for a, i in heads.items() if not 0 <= i < n_heads}
        if bad:
            raise RewardModelError(f"heads {bad} are out of range: the model has {n_heads} outputs")
        for name in heads:
            get_attribute(name)  # unknown attribute names fail here
        self.heads = dict(heads)
        self.affine = dict(affine or {})
        self._lock = threading.Lock()

    def _texts(self, prompt: str, response: str) -> Any:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}], tokenize=False)
        return (prompt, response)

    def raw(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Raw head outputs, shape (n, num_labels)."""
        import torch

        outputs = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(responses), self.batch_size):
                items = [self._texts(p, r) for p, r in zip(prompts[start:start + self.batch_size],
                                                          responses[start:start + self.batch_size])]
                if isinstance(items[0], tuple):
                    batch = self.tokenizer([a for a, _ in items], [b for _, b in items], padding=True,
                                           truncation=True, max_length=self.max_length, return_tensors="pt")
                else:
                    batch = self.tokenizer(items, padding=True, truncation=True, max_length=self.max_length,
                                           return_tensors="pt")
                logits = self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits
                outputs.append(logits.float().cpu().numpy())
        return np.vstack(outputs) if outputs else np.zeros((0, int(self.model.config.num_labels)))

    def score(self, prompts: Sequence[str], responses: Sequence[str], attributes: Sequence[str], *,
              usage: Usage | None = None) -> np.ndarray:
        missing = [a for a in attributes if a not in self.heads]
        if missing:
            raise RewardModelError(f"this reward model has no head for {missing}; heads: {self.heads}")
        raw = self.raw(list(prompts), list(responses))
        out = np.empty((len(responses), len(attributes)))
        for j, name in enumerate(attributes):
            a, b = self.affine.get(name, (1.0, 0.0))
            attribute = get_attribute(name)
            out[:, j] = np.clip(a * raw[:, self.heads[name]] + b, attribute.low, attribute.high)
        return out
