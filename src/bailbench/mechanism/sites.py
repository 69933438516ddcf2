"""Which positions of a run the activations are read at, and the sequences that reach them.

Two sites per context (a prompt and sample): `reply_end`, the last token of the model's
rollout (rendered prompt + reply; no bail option shown yet: the cheap position), and
`decision`, the last token of each bail-prompt check after the forced `<wellbeing>` (whose
logits give P(bail)). A causal model's state at a position depends on the tokens before it
only, so where the check's tokens begin with the rollout's, the reply end is read from the
check's pass: one forward pass per check, none for the rollout.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..methods import PROMPT_METHODS, ROLLOUT
from ..methods.wordings import tag
from ..store import SampleRow, Store

REPLY_END, DECISION = "reply_end", "decision"
SITES = (REPLY_END, DECISION)


@dataclass(frozen=True)
class Read:
    """One activation to store: the sample it belongs to and where in its sequence."""

    key: str  # the sample's key (the rollout for reply_end, the check for decision)
    site: str
    position: int
    prompt_id: str
    sample: int
    method: str
    ablation: str
    category: str
    subcategory: str


@dataclass(frozen=True)
class Sequence:
    tokens: list[int]
    reads: list[Read]


def _read(row: SampleRow, site: str, position: int) -> Read:
    return Read(row.key, site, position, row.prompt_id, row.sample, row.method, row.ablation, row.category,
                row.subcategory)


def decision_text(row: SampleRow) -> str:
    """A check's prefix up to the forced tag: stored as such in logprob mode; a sampled
    check's rendered prompt gains the tag."""
    opening = f"<{tag()}>"
    return row.rendered if row.rendered.endswith(opening) else row.rendered + opening


def context_rows(run_dir: Path) -> Iterator[list[SampleRow]]:
    """The rollout and checks of each context, streamed in (prompt, sample) order."""
    store = Store(run_dir, create=False)
    methods = (ROLLOUT, *PROMPT_METHODS)
    q = (f"SELECT {store.select} FROM samples WHERE method IN ({','.join('?' * len(methods))}) "
         "AND skipped IS NULL AND rendered != '' ORDER BY prompt_id, sample, method, key")
    try:
        rows = (SampleRow(*r) for r in store.db.execute(q, methods))
        for _, group in itertools.groupby(rows, key=lambda r: (r.prompt_id, r.sample)):
            yield list(group)
    finally:
        store.close()


def plan(rows: list[SampleRow], tokens: Callable[[str], list[int]], done: set[tuple[str, str]]) -> list[Sequence]:
    """The forward passes of one context that cover its reads not yet `done` ((site, key))."""
    rollout = next((r for r in rows if r.method == ROLLOUT), None)
    want_end = rollout is not None and (REPLY_END, rollout.key) not in done
    end = tokens(rollout.rendered + rollout.reply) if rollout is not None else []
    out = []
    for row in rows:
        if row.method == ROLLOUT:
            continue
        seq = tokens(decision_text(row))
        reads = [] if (DECISION, row.key) in done else [_read(row, DECISION, len(seq) - 1)]
        if want_end and rollout is not None and seq[:len(end)] == end:
            reads.append(_read(rollout, REPLY_END, len(end) - 1))
            want_end = False
        if reads:
            out.append(Sequence(seq, reads))
    if want_end and rollout is not None:
        out.append(Sequence(end, [_read(rollout, REPLY_END, len(end) - 1)]))
    return out
