"""Which positions of a run the activations are read at, and the sequences that reach them.

Two sites per context (a prompt and sample): `reply_end`, the last token of the model's
rollout (rendered prompt + reply; no bail option shown yet: the cheap position), and
`decision`, the last token of each bail-prompt check after the forced `<wellbeing>` (whose
logits give P(bail)). A causal model's state at a position depends on the tokens before it
only, so a context's rollout and checks run as one token tree: their shared prefix (the
prompt and reply, where the checks begin with them) is computed once, each check's own
tokens see only that prefix and themselves, and the reply end is read inside the tree.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..backends.token_trie import token_trie
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
    """One context's sequences as a token tree (backends.token_trie), read at `nodes`."""

    tokens: list[int]
    parents: list[int]
    reads: list[Read]
    nodes: list[int]


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


def plan(rows: list[SampleRow], tokens: Callable[[str], list[int]], done: set[tuple[str, str]]) -> Sequence | None:
    """The forward pass of one context that covers its reads not yet `done` ((site, key)):
    its checks and rollout packed as one token tree (None: nothing left to read)."""
    seqs: list[list[int]] = []
    reads: list[Read] = []
    for row in rows:
        site = REPLY_END if row.method == ROLLOUT else DECISION
        if (site, row.key) in done:
            continue
        seq = tokens(row.rendered + row.reply if site == REPLY_END else decision_text(row))
        seqs.append(seq)
        reads.append(_read(row, site, len(seq) - 1))
    if not seqs:
        return None
    trie = token_trie(seqs)
    return Sequence(trie.tokens, trie.parents, reads, [path[-1] for path in trie.paths])
