"""Scoring continuations, both ways the package doc describes: the exact path on sequence 0
through the Llama object's own `eval` (prefill of the chat, then the continuations' trie walked
depth first), and `reuse_reply`'s one batch continuing from the generations' KV."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ..base import PreparedScore, Score
from ..token_trie import ROOT, TokenTrie
from .cache import CachedSeq, SequenceCache, best_prefix, common_prefix
from .decoding import Decoder, batch_items, log_softmax


def last_logprobs(llm: Any) -> np.ndarray:
    """Log-probabilities after the Llama object's own last `eval`."""
    return log_softmax(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)))


def kept_prefix(held: Sequence[int], toks: Sequence[int]) -> int:
    """How many cached tokens to keep for `toks`: what `held` (sequence 0's tokens whose KV
    prefill wrote) shares with them, less at least one token so that fresh logits are always
    decoded."""
    return min(common_prefix(held, toks), len(toks) - 1)


def eval_prefix(llm: Any, prefix: list[int], exact: int) -> np.ndarray:
    """Evaluate `prefix` in sequence 0, reusing what of its first `exact` tokens (those prefill
    wrote) the KV cache already holds and dropping the rest; the log-probabilities after it."""
    common = kept_prefix(llm.input_ids[: min(llm.n_tokens, exact)], prefix)
    llm.n_tokens = common
    llm.eval(prefix[common:])
    return last_logprobs(llm)


def walk(llm: Any, trie: TokenTrie, logprobs: np.ndarray, pos: int) -> list[float]:
    """Each sequence's total log-probability after the prefix of `pos` tokens sequence 0 holds
    (`logprobs` follow it): depth first, each node with children evaluated once, one token."""
    children = trie.children()
    totals: dict[int, float] = {}  # node -> log-probability of the tokens down to it

    def visit(node: int, logprobs: np.ndarray, pos: int, acc: float) -> None:
        for child in children.get(node, []):
            token = trie.tokens[child]
            lp = totals[child] = acc + float(logprobs[token])
            if child in children:
                llm.n_tokens = pos
                llm.eval([token])
                visit(child, last_logprobs(llm), pos + 1, lp)

    visit(ROOT, logprobs, pos, 0.0)
    return [totals[path[-1]] for path in trie.paths]


def score_on_replies(work: list[PreparedScore], entries: list[CachedSeq], decoder: Decoder, cache: SequenceCache
                     ) -> list[Score]:
    """Score the leading chats of `work` that fit in the free sequence ids and cells as one
    trie, each continuing from the cached generation (reply included) it shares most with."""
    start = time.perf_counter()
    plans = []  # (prepared, cached source, copied length)
    ids, cells = len(cache.free_ids), cache.cells - cache.used()
    for p in work:
        src, n = best_prefix(p.tokens, len(p.tokens) - 1, entries, False)
        new = len(p.tokens) - n + sum(len(c) for c in p.continuations)
        if len(p.continuations) > ids or new > cells:
            break
        ids, cells = ids - len(p.continuations), cells - new
        plans.append((p, src, n))
    paths, owners = [], []  # owners: (plan, tokens of the path before its continuation, continuation)
    for k, (p, src, n) in enumerate(plans):
        for c in p.continuations:
            seq = cache.free_ids.pop()
            if src is not None:
                cache.copy(src.seq, seq, n)
            paths.append((seq, src.seq if src else None, n, p.tokens[n:] + c))
            owners.append((k, len(p.tokens) - n, c))
    items, trie = batch_items(paths)
    # the item whose logits give each continuation token (never ROOT: a path keeps a prompt token)
    reads = [trie.contexts(i)[at:] for i, (_, at, _) in enumerate(owners)]
    for nodes in reads:
        for node in nodes:
            items[node].logits = True
    rows: dict[int, np.ndarray] = {}
    decoder.decode(items, lambda i, row: rows.__setitem__(i, decoder.logprobs(row)))
    for seq, *_ in paths:
        cache.release(seq)
    totals: list[list[float]] = [[] for _ in plans]
    for (k, _, c), nodes in zip(owners, reads, strict=True):
        totals[k].append(sum(float(rows[node][tok]) for node, tok in zip(nodes, c, strict=True)))
    seconds = (time.perf_counter() - start) / max(1, len(plans))
    return [Score(p.rendered, t, len(p.tokens), seconds=seconds) for (p, _, _), t in zip(plans, totals, strict=True)]
