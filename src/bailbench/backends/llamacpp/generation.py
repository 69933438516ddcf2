"""Batched generation: up to `batch_size` sequences decoded together, one token of each per
`llama_decode`; a queued request is admitted when one finishes and its worst case (prompt +
max tokens) fits the cache, copying the longest prompt prefix a cached sequence shares.

Each sequence samples with its own chain, seeded with its request's seed: vLLM's defaults,
behind the paper's open-weight runs (llama.cpp's differ), as the chain `create_completion`
builds for them (penalties, top-k/p, min-p and typical all disabled, then temperature, then
`dist(seed)`; greedy at temperature 0)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from ..base import Generation, GenerationRequest, PreparedRequest
from .cache import CachedSeq, SequenceCache, best_prefix
from .decoding import Decoder, Item, batch_items

if TYPE_CHECKING:
    from llama_cpp._internals import LlamaSampler

@dataclass
class _Active:
    p: PreparedRequest
    seq: int
    sampler: LlamaSampler
    max_new: int
    out: list[int] = field(default_factory=list)
    start: float = 0.0


def sampler(req: GenerationRequest, n_vocab: int, penalty_last_n: int) -> LlamaSampler:
    """The chain create_completion builds for top_p=1, top_k=0, min_p=0, typical_p=1 and no
    repeat, frequency or presence penalty, seeded with the request's seed."""
    from llama_cpp._internals import LlamaSampler

    s = LlamaSampler()
    s.add_penalties(n_vocab=n_vocab, penalty_last_n=penalty_last_n, penalty_repeat=1.0,
                    penalty_freq=0.0, penalty_present=0.0)
    if req.temperature == 0:
        s.add_greedy()
    else:
        s.add_top_k(0)
        s.add_typical(1.0, 1)
        s.add_top_p(1.0, 1)
        s.add_min_p(0.0, 1)
        s.add_temp(req.temperature)
        s.add_dist(req.seed)
    return s


def generate(work: Sequence[PreparedRequest], decoder: Decoder, cache: SequenceCache, *, batch_size: int,
             n_ctx: int, penalty_last_n: int, reply_text: Callable[[list[int]], str]) -> dict[int, Generation]:
    """The generations of `work` by request index; each finished one stays in `cache.entries`."""
    out: dict[int, Generation] = {}
    queue = deque(work)
    active: list[_Active] = []
    pending: dict[int, int] = {}  # seq -> its sampled token, decoded in the next step
    while queue or active:
        admitted = _admit(queue, active, cache, batch_size, n_ctx,
                          lambda req: sampler(req, decoder.n_vocab, penalty_last_n))
        paths = []
        for a, src, n in admitted:
            if src is not None:
                cache.copy(src.seq, a.seq, n)
            paths.append((a.seq, src.seq if src else None, n, a.p.tokens[n:]))
        items, trie = batch_items(paths)
        readers: dict[int, list[_Active]] = {}  # item index -> sequences sampling from its logits
        for (a, _, _), nodes in zip(admitted, trie.paths, strict=True):
            items[nodes[-1]].logits = True
            readers.setdefault(nodes[-1], []).append(a)
            a.start = time.perf_counter()
            active.append(a)
        for a in active:
            if a.seq in pending:
                readers[len(items)] = [a]
                items.append(Item(pending.pop(a.seq), len(a.p.tokens) + len(a.out) - 1, [a.seq], True))
        sampled: list[tuple[_Active, int]] = []
        decoder.decode(items, lambda i, row: sampled.extend((a, decoder.sample(a.sampler, row)) for a in readers[i]))
        for a, tok in sampled:
            if decoder.is_end(tok):
                reason = "stop"
            else:
                a.out.append(tok)
                reason = "length" if len(a.out) >= a.max_new else ""
            if reason:
                active.remove(a)
                out[a.p.index] = _finish(a, reason, cache, reply_text)
            else:
                pending[a.seq] = tok
    return out


def _admit(queue: deque[PreparedRequest], active: list[_Active], cache: SequenceCache, batch_size: int, n_ctx: int,
           new_sampler: Callable[[GenerationRequest], LlamaSampler]) -> list[tuple[_Active, CachedSeq | None, int]]:
    """Start queued requests while fewer than batch_size run and their worst case fits the
    cache; each copies the longest prompt prefix it shares with a sequence already decoded."""
    admitted: list[tuple[_Active, CachedSeq | None, int]] = []
    reserved = sum(len(a.p.tokens) + a.max_new for a in active)
    running = [CachedSeq(a.seq, a.p.tokens, len(a.p.tokens)) for a in active]
    while queue and len(active) + len(admitted) < batch_size:
        p = queue[0]
        max_new = min(p.request.max_tokens, n_ctx - len(p.tokens))
        need = len(p.tokens) + max_new
        sources = [src for _, src, _ in admitted if src is not None]
        if not cache.make_room(reserved + need, keep=sources) and (active or admitted):
            break  # wait for a running sequence to finish
        queue.popleft()
        reserved += need
        src, n = best_prefix(p.tokens, len(p.tokens) - 1, cache.entries + running, True)
        seq = cache.take_id(keep=sources + [src] if src else sources)
        admitted.append((_Active(p, seq, new_sampler(p.request), max_new), src, n))
    return admitted


def _finish(a: _Active, reason: str, cache: SequenceCache, reply_text: Callable[[list[int]], str]) -> Generation:
    p = a.p
    decoded = a.out[:-1] if reason == "length" else a.out  # the last sampled token was never decoded
    cache.entries.append(CachedSeq(a.seq, p.tokens + decoded, len(p.tokens)))
    a.sampler.close()
    return Generation(p.rendered, text=p.request.chat.assistant_prefix + reply_text(a.out),
                      prompt_tokens=len(p.tokens), completion_tokens=len(a.out), finish_reason=reason,
                      seconds=time.perf_counter() - a.start)
