"""Which sequences the one KV cache holds: ids 1..n_seq_max-1 (sequence 0 is the Llama
object's own), the finished generations kept for the bail prompt, and the prefixes a new
sequence can copy from them instead of decoding again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass
class CachedSeq:
    """A sequence in the KV cache: its id, the tokens its cells hold, how many of them prefill wrote."""

    seq: int
    tokens: list[int]
    prompt: int


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def best_prefix(toks: list[int], limit: int, candidates: Sequence[CachedSeq], prompt_only: bool
                ) -> tuple[CachedSeq | None, int]:
    """The cached sequence sharing the longest prefix with `toks` (at most `limit` tokens),
    reading only the prompt part of each if `prompt_only`; the first of equals wins."""
    best, length = None, 0
    for e in candidates:
        held = e.tokens[: e.prompt] if prompt_only else e.tokens
        n = min(common_prefix(held, toks), limit)
        if n > length:
            best, length = e, n
    return best, length


@dataclass
class SequenceCache:
    """The sequence ids of a llama.cpp context and the generations kept in its `cells`;
    `C` is the llama_cpp module, `mem` the context's memory."""

    C: Any
    mem: Any
    cells: int
    free_ids: list[int]  # popped from the end
    entries: list[CachedSeq] = field(default_factory=list)  # oldest first

    def release(self, seq: int) -> None:
        self.C.llama_memory_seq_rm(self.mem, seq, -1, -1)
        self.free_ids.append(seq)

    def release_all(self) -> None:
        """Drop the kept generations; sequence 0's cells stay."""
        for e in self.entries:
            self.release(e.seq)
        self.entries = []

    def clear(self) -> None:
        """Empty the whole cache, sequence 0 included."""
        self.release_all()
        self.C.llama_memory_clear(self.mem, True)

    def copy(self, src: int, dst: int, n: int) -> None:
        """Let sequence `dst` share the cells of the first `n` tokens of `src`."""
        self.C.llama_memory_seq_cp(self.mem, src, dst, 0, n)

    def take_id(self, keep: Sequence[CachedSeq] = ()) -> int:
        """A free sequence id, dropping the oldest entry not in `keep` if none is free."""
        if not self.free_ids:
            oldest = next(e for e in self.entries if e not in keep)
            self.entries.remove(oldest)
            self.release(oldest.seq)
        return self.free_ids.pop()

    def live_entries(self) -> list[CachedSeq]:
        """Entries whose cells still hold what we wrote (code using `llm.eval` may have cleared them)."""
        alive = []
        for e in self.entries:
            if self.C.llama_memory_seq_pos_max(self.mem, e.seq) == len(e.tokens) - 1:
                alive.append(e)
            else:
                self.release(e.seq)
        self.entries = alive
        return alive

    def used(self) -> int:
        """Cells the kept entries may hold (an upper bound: shared cells are counted per sequence)."""
        return sum(len(e.tokens) for e in self.entries)

    def make_room(self, cells: int, keep: Sequence[CachedSeq] = ()) -> bool:
        """Drop the oldest entries not in `keep` until `cells` more fit; False if they cannot."""
        for e in list(self.entries):
            if self.cells - self.used() >= cells:
                break
            if e not in keep:
                self.entries.remove(e)
                self.release(e.seq)
        return self.cells - self.used() >= cells
