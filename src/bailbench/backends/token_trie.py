"""The prefix trie of token sequences that scoring walks: continuations (or chats) sharing
leading tokens share one node, so each shared step is computed once (one llama.cpp cell,
one llama.cpp evaluation, one vLLM request).

Nodes are numbered in the order the sequences first reach them: a parent before its
children, siblings in the order of their sequences. The backends evaluate in that order,
which keeps their results independent of how the trie is stored.

A trie (or any tree given as parents) also runs as one transformer pass: each token at its
depth as position, attending to its ancestors only (`ancestry`, `packed_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np

ROOT = -1  # the parent of every sequence's first token


@dataclass(frozen=True)
class TokenTrie:
    tokens: list[int]  # node -> its token
    parents: list[int]  # node -> its parent node, ROOT for a first token
    paths: list[list[int]]  # sequence -> the node of each of its tokens

    def contexts(self, k: int) -> list[int]:
        """The node after which each token of sequence `k` comes (ROOT for the first): where
        the log-probability of that token is read."""
        return [ROOT, *self.paths[k]][: len(self.paths[k])]

    def children(self) -> dict[int, list[int]]:
        """Each node with children (ROOT included) -> its children, in node order."""
        out: dict[int, list[int]] = {}
        for node, parent in enumerate(self.parents):
            out.setdefault(parent, []).append(node)
        return out

    def prefix(self, node: int) -> list[int]:
        """The tokens from the root down to `node`, itself included ([] for ROOT)."""
        out = []
        while node != ROOT:
            out.append(self.tokens[node])
            node = self.parents[node]
        return out[::-1]


def token_trie(sequences: Sequence[Sequence[int]], roots: Sequence[Hashable] | None = None) -> TokenTrie:
    """The trie of `sequences`. Sequences under the same root (all of them, by default) share
    the nodes of their common leading tokens; under different roots (for llama.cpp, different
    cached prefixes) they share nothing."""
    keys = [None] * len(sequences) if roots is None else roots
    tokens: list[int] = []
    parents: list[int] = []
    paths: list[list[int]] = []
    index: dict[tuple[Hashable, int, int], int] = {}  # (root, parent, token) -> node
    for seq, root in zip(sequences, keys, strict=True):
        parent, path = ROOT, []
        for tok in seq:
            node = index.get((root, parent, tok))
            if node is None:
                node = index[(root, parent, tok)] = len(tokens)
                tokens.append(tok)
                parents.append(parent)
            path.append(node)
            parent = node
        paths.append(path)
    return TokenTrie(tokens, parents, paths)


def chain(n: int) -> list[int]:
    """The parents of a plain sequence of n tokens: each token's parent is the one before it."""
    return list(range(-1, n - 1))


def depths(parents: Sequence[int]) -> list[int]:
    """Each token's position in its own sequence (parents come before their children)."""
    out: list[int] = []
    for p in parents:
        out.append(0 if p == ROOT else out[p] + 1)
    return out


def ancestry(parents: Sequence[int]) -> np.ndarray:
    """(n, n) bool: the tokens each token attends to in a tree-packed causal pass, itself and
    its ancestors; every sequence of the tree sees exactly what it would see alone."""
    n = len(parents)
    a = np.zeros((n, n), bool)
    for i, p in enumerate(parents):
        if p != ROOT:
            a[i, :i] = a[p, :i]
        a[i, i] = True
    return a


def packed_batch(trees: Sequence[tuple[Sequence[int], Sequence[int]]], pad: int):
    """Left-padded arrays for a batch of (tokens, parents) trees: (ids (b, S), positions (b, S),
    allowed (b, S, S) bool, each tree's offset). A padding position attends to itself alone, so
    no softmax is empty."""
    width = max(len(t) for t, _ in trees)
    ids = np.full((len(trees), width), pad, np.int64)
    pos = np.zeros((len(trees), width), np.int64)
    allowed = np.zeros((len(trees), width, width), bool)
    allowed[:, np.arange(width), np.arange(width)] = True
    offsets = []
    for r, (tokens, parents) in enumerate(trees):
        o = width - len(tokens)
        ids[r, o:], pos[r, o:] = tokens, depths(parents)
        allowed[r, o:, o:] = ancestry(parents)
        offsets.append(o)
    return ids, pos, allowed, offsets
