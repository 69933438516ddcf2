"""The token trie both llama.cpp and vLLM scoring walk, and llama.cpp's batch items built on it."""

from bailbench.backends.llamacpp.decoding import Item, batch_items
from bailbench.backends.token_trie import ROOT, token_trie

# [1] and [2, 5] and [1, 3] and [1, 3] again: a shared first token, a duplicate, a prefix of another
SEQS = [[1], [2, 5], [1, 3], [1, 3]]


def test_nodes_are_numbered_as_first_reached():
    t = token_trie(SEQS)
    assert t.tokens == [1, 2, 5, 3]
    assert t.parents == [ROOT, ROOT, 1, 0]
    assert t.paths == [[0], [1, 2], [0, 3], [0, 3]]
    assert t.children() == {ROOT: [0, 1], 1: [2], 0: [3]}
    assert [t.prefix(n) for n in (ROOT, 0, 1, 2, 3)] == [[], [1], [2], [2, 5], [1, 3]]


def test_contexts_are_where_each_token_is_read():
    t = token_trie(SEQS)
    assert [t.contexts(k) for k in range(len(SEQS))] == [[ROOT], [ROOT, 1], [ROOT, 0], [ROOT, 0]]
    # vLLM asks in the order the sequences first read a node, which is not node order here
    assert list(dict.fromkeys(n for k in range(len(SEQS)) for n in t.contexts(k))) == [ROOT, 1, 0]
    assert token_trie([[]]).contexts(0) == []


def test_roots_share_nothing():
    t = token_trie([[7, 8], [7, 9], [7, 8]], roots=["a", "b", "a"])
    assert t.tokens == [7, 8, 7, 9]
    assert t.paths == [[0, 1], [2, 3], [0, 1]]


def test_batch_items_share_cells_of_the_same_source():
    # (sequence id, cached source id, copied length, tokens after it)
    items, trie = batch_items([(1, None, 0, [10, 11]), (2, None, 0, [10, 12]), (3, 5, 4, [10, 11]),
                               (4, 5, 4, [10, 11, 13])])
    assert items == [Item(10, 0, [1, 2]), Item(11, 1, [1]), Item(12, 1, [2]), Item(10, 4, [3, 4]),
                     Item(11, 5, [3, 4]), Item(13, 6, [4])]
    assert trie.paths == [[0, 1], [0, 2], [3, 4], [3, 4, 5]]
