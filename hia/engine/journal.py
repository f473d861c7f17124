"""Paid answers, kept the moment they arrive, so a killed batch does not pay for them again.

align_many writes every policy answer to `<output>.answers.jsonl` as it arrives, before the
item it belongs to is finished and recorded. A rerun after a kill replays an item's search; a
call with the same item, messages and seed as a journaled answer gets that answer back instead of
a new call. It still takes its unit of the item's budget: it was paid for, once.

Replays hit when the search asks again for what it asked before: the templates and the seeds
are deterministic, so with the template optimizer a replayed item repeats its calls exactly;
rewrites an LLM optimizer samples anew may not match, and their answers are then only kept.

The in-process engine keeps the journal itself (AnswerJournal); the Ray engine keeps it in one
actor that every worker writes to (hia.engine.ray_runner), through the same `journaled_policy`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Awaitable, Callable, Mapping, Sequence

from hia.core.usage import Usage
from hia.models.chat import ChatReply, Message
from hia.models.policy import PolicyFn
from hia.storage.jsonl import JsonlWriter, read_jsonl

Keep = Callable[[dict], Awaitable[None]]  # makes an answer's entry durable before the search goes on


def answer_key(item: str, messages: Sequence[Message], seed: int) -> str:
    text = json.dumps([item, list(messages), seed], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def journaled_policy(item: str, policy: PolicyFn, answers: Mapping[str, dict], keep: Keep) -> PolicyFn:
    """`policy` for `item`, replaying the answers in `answers` (by key) and handing every new one
    to `keep` before it is returned to the search."""

    async def journaled(messages: Sequence[Message], seed: int, usage: Usage) -> ChatReply:
        key = answer_key(item, messages, seed)
        entry = answers.get(key)
        if entry is not None:
            usage.record_call("policy", entry["prompt_tokens"], entry["completion_tokens"])
            return ChatReply(entry["text"], entry["prompt_tokens"], entry["completion_tokens"], entry["finish_reason"])
        reply = await policy(messages, seed, usage)
        await keep({"key": key, "item": item, "seed": seed, "text": reply.text, "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens, "finish_reason": reply.finish_reason})
        return reply

    return journaled


class AnswerJournal:
    """An append-only JSONL file of policy answers, keyed by (item, messages, seed)."""

    def __init__(self, path: str | Path, fsync: bool = False) -> None:
        self.path = Path(path)
        self._answers: dict[str, dict] = {}
        self._by_item: dict[str, dict[str, dict]] = {}
        if self.path.exists():
            for line in read_jsonl(self.path):
                try:
                    self._index(line.value)
                except (KeyError, TypeError):
                    continue  # a torn last line from a kill
        self._out = JsonlWriter(self.path, fsync, exclusive=False)  # the batch's own output holds the lock
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._answers)

    def answers_for(self, item: str) -> dict[str, dict]:
        """The journaled answers of one item, by key."""
        with self._lock:
            return dict(self._by_item.get(item, {}))

    def items(self) -> list[str]:
        """The items that have journaled answers."""
        with self._lock:
            return list(self._by_item)

    def policy_for(self, item: str, policy: PolicyFn) -> PolicyFn:
        """`policy`, with answers journaled for `item` and replayed when asked for again."""

        async def keep(entry: dict) -> None:
            self.add(entry)

        return journaled_policy(item, policy, self._answers, keep)

    def add(self, entry: dict) -> None:
        with self._lock:
            self._index(entry)
        self._out.write(entry)

    def _index(self, entry: dict) -> None:
        self._answers[entry["key"]] = entry
        self._by_item.setdefault(str(entry["item"]), {})[entry["key"]] = entry

    def close(self) -> None:
        self._out.close()
