"""llama.cpp's batch API: tokens of several sequences decoded together (`llama_batch_init`,
`llama_decode` with several sequence ids, `llama_get_logits_ith`), and the batch items a
token trie gives, one cell per token that sequences share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..token_trie import TokenTrie, token_trie

if TYPE_CHECKING:
    from llama_cpp._internals import LlamaSampler

N_BATCH = 512  # tokens per llama_decode call


@dataclass
class Item:
    """One token of a batch: at `pos` in each of `seqs`, its logits kept if `logits`."""

    token: int
    pos: int
    seqs: list[int] = field(default_factory=list)
    logits: bool = False


def batch_items(paths: list[tuple[int, int | None, int, list[int]]]) -> tuple[list[Item], TokenTrie]:
    """Batch items for paths (sequence id, cached source id, copied length, tokens after it).
    Paths that copy the same source prefix and go on with the same tokens share those tokens:
    one item, one cell, several sequence ids. The items are the trie's nodes (parents before
    children); the trie maps each path's tokens to them."""
    trie = token_trie([toks for *_, toks in paths], roots=[(src, start) for _, src, start, _ in paths])
    items = [Item(tok, 0) for tok in trie.tokens]
    for (seq, _, start, _), nodes in zip(paths, trie.paths, strict=True):
        for j, node in enumerate(nodes):
            items[node].pos = start + j
            items[node].seqs.append(seq)
    return items, trie


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities from logits, in float64."""
    logits = logits.astype(np.float64)
    top = logits.max()
    return logits - top - math.log(np.exp(logits - top).sum())


class Decoder:
    """A context's batch of `N_BATCH` tokens over up to `n_seq_max` sequences; `C` is the llama_cpp module."""

    def __init__(self, C: Any, ctx: Any, vocab: Any, n_vocab: int, cells: int, n_seq_max: int):
        self.C, self.ctx, self.vocab, self.n_vocab, self.cells = C, ctx, vocab, n_vocab, cells
        self.batch = C.llama_batch_init(N_BATCH, 0, n_seq_max)

    def __del__(self):
        if getattr(self, "batch", None) is not None:
            self.C.llama_batch_free(self.batch)
            self.batch = None

    def decode(self, items: list[Item], on_logits: Callable[[int, int], None]) -> None:
        """Decode the items in order, `N_BATCH` at a time; `on_logits(item index, batch row)` is
        called after each call for the items that asked for logits."""
        C, b = self.C, self.batch
        for start in range(0, len(items), N_BATCH):
            chunk = items[start:start + N_BATCH]
            b.n_tokens = len(chunk)
            for i, item in enumerate(chunk):
                b.token[i] = item.token
                b.pos[i] = item.pos
                b.n_seq_id[i] = len(item.seqs)
                for j, s in enumerate(item.seqs):
                    b.seq_id[i][j] = s
                b.logits[i] = item.logits
            rc = C.llama_decode(self.ctx, b)
            if rc != 0:
                raise RuntimeError(f"llama_decode failed ({rc}): the KV cache of {self.cells} cells is full")
            for i, item in enumerate(chunk):
                if item.logits:
                    on_logits(start + i, i)

    def logprobs(self, row: int) -> np.ndarray:
        """The log-probabilities of the next token at a row of the last decoded batch."""
        return log_softmax(np.ctypeslib.as_array(self.C.llama_get_logits_ith(self.ctx, row), shape=(self.n_vocab,)))

    def sample(self, sampler: LlamaSampler, row: int) -> int:
        return self.C.llama_sampler_sample(sampler.sampler, self.ctx, row)

    def is_end(self, token: int) -> bool:
        """Whether the token ends generation (end of turn, end of text)."""
        return self.C.llama_vocab_is_eog(self.vocab, token)
