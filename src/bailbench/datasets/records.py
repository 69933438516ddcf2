"""What every loader returns."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from ..chat.types import Message


@dataclass(frozen=True)
class Prompt:
    """One item to answer: a conversation that ends with a user turn."""

    id: str
    messages: tuple[Message, ...]
    category: str = ""
    subcategory: str = ""

    @property
    def content(self) -> str:
        return self.messages[-1].content


def prompt_id(index: int, messages: tuple[Message, ...]) -> str:
    """Row number plus a content hash, so a changed dataset never reuses stale results."""
    h = hashlib.sha256("\x1e".join(f"{m.role}\x1f{m.content}" for m in messages).encode()).hexdigest()
    return f"{index}-{h[:10]}"


@dataclass
class Dataset:
    name: str
    sha256: str
    prompts: list[Prompt]
    skipped: Counter = field(default_factory=Counter)  # reason -> rows not usable
    skipped_lines: list[int] = field(default_factory=list)  # first few bad line numbers, for the message

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(p.category for p in self.prompts))

    @property
    def subcategories(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((p.category, p.subcategory) for p in self.prompts))


def stratified(prompts: list[Prompt], limit: int | None) -> list[Prompt]:
    """Take `limit` prompts spread over categories, then subcategories, in file order.

    Round-robin over categories, each drawing round-robin over its subcategories, so
    any limit >= the number of categories covers every category.
    """
    if limit is None or limit >= len(prompts):
        return list(prompts)
    by_cat: dict[str, dict[str, list[Prompt]]] = {}
    for p in prompts:
        by_cat.setdefault(p.category, {}).setdefault(p.subcategory, []).append(p)
    queues = {c: _round_robin(list(subs.values())) for c, subs in by_cat.items()}
    out: list[Prompt] = []
    while len(out) < limit:
        for c in list(queues):
            nxt = next(queues[c], None)
            if nxt is None:
                del queues[c]
                continue
            out.append(nxt)
            if len(out) == limit:
                break
    return out


def _round_robin(groups: list[list[Prompt]]):
    i = 0
    while any(i < len(g) for g in groups):
        for g in groups:
            if i < len(g):
                yield g[i]
        i += 1
