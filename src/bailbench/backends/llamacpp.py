"""GGUF models through llama.cpp (llama-cpp-python), on CPU or GPU.

Prompts are rendered with the chat template stored in the GGUF, so the stored input is
exactly what the model saw. One llama.cpp context holds several sequences in one KV
cache of n_ctx cells (`n_seq_max`, unified cells: the memory of one sequence), driven
through llama.cpp's batch API (`llama_batch_init`, `llama_decode` with several sequence
ids, `llama_get_logits_ith`, `llama_memory_seq_cp/_rm`).

Generation decodes up to `batch_size` sequences together, one token of each per
`llama_decode`, and admits the next request when one finishes and its worst case
(prompt + max tokens) fits the cache. Prompts that start alike (a method's system prompt,
the turns of one conversation) share the cells of their common prefix.

Sampling: each sequence has its own llama.cpp sampler chain seeded with its request's
seed, the chain `create_completion` built before (penalties, top-k/p, min-p and typical
all disabled, then temperature, then `dist(seed)`; greedy at temperature 0). The seeding
scheme is unchanged; replies differ from the one-at-a-time version's because the logits
of a batch differ in rounding (below).

Numerics, measured on CPU with the embedded Q4_1 model. A prefill gives the same bits
whichever other sequences share the batch and however it is split (in parts of two tokens
or more). KV written one token per step (generation) differs from prefill, and results
depend on where a sequence's cells lie in the cache; through the model's 8-bit activation
quantisation such rounding moves a symbol's log-probability by up to about 0.3 nats, far
beyond float tolerance. Hence:
- `generate` empties the cache first, so a reply is a function of its call's request list
  (the batch): the same batch gives the same replies bit for bit, and a resumed batch (the
  runner cuts batches from the full plan) the same as an uninterrupted one;
- `score` (the bail prompt) keeps llama.cpp's exact path: the generated sequences are
  dropped, and sequence 0 alone evaluates each chat by prefill, reusing the prefix the
  previous chat left (the two orders of the check after one reply share prompt + reply),
  then walks the continuations as a token trie. Its log-probabilities are those of a cold
  evaluation bit for bit, whatever ran before;
- `reuse_reply=True` instead continues from the rollout's own KV: all chats and symbols
  of a call form one token trie decoded in one batch after the cached prompt + reply, so
  a check costs only its own tokens, at the price of the rounding above (tests hold it to
  0.5 nats of the cold path).

Replies keep the control tokens that open or delimit tool calls (`[TOOL_CALLS]`,
`<|python_tag|>` ...), which llama.cpp drops from text; end-of-generation tokens end a
reply and are never part of it. llama.cpp's own log is silenced, so that a user error
(a file that is not a GGUF model) is bailbench's one line.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ..chat.template import ChatTemplate
from ..chat.toolcalls import CONTROL_TOKENS, check_format
from ..chat.types import Chat
from ..errors import UserError
from .base import Generation, GenerationRequest, LocalBackend, PreparedRequest, PreparedScore, Score
from .gguf_meta import trained_context

if TYPE_CHECKING:
    from llama_cpp._internals import LlamaSampler

# Sampling as vLLM's defaults, behind the paper's open-weight runs (llama.cpp's differ).
PLAIN_SAMPLING = dict(top_p=1.0, top_k=0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0,
                      frequency_penalty=0.0, presence_penalty=0.0)
# Sequences decoded together by default. Measured on 2 CPU cores (tokens per CPU-second, SmolLM2 Q4_1):
# 131 one at a time, 167 at 8, 196 at 16; prefill, the ceiling, 311 (benchmarks/llamacpp_speed.py).
DEFAULT_BATCH_SIZE = 16
# Control tokens that open or delimit a tool call or reasoning in some chat format; kept in reply text.
TOOL_CALL_TOKENS = CONTROL_TOKENS
_MAX_SEQUENCES = 64  # sequence ids in the context (the cache is shared, so they cost no memory)
_N_BATCH = 512  # tokens per llama_decode call


@dataclass
class _Seq:
    """A sequence in the KV cache: its id, the tokens its cells hold, how many of them prefill wrote."""

    seq: int
    tokens: list[int]
    prompt: int


@dataclass
class _Active:
    p: PreparedRequest
    seq: int
    sampler: LlamaSampler
    max_new: int
    out: list[int] = field(default_factory=list)
    start: float = 0.0


class LlamaCppBackend(LocalBackend):
    batch_size = DEFAULT_BATCH_SIZE

    def __init__(self, path: Path, *, spec: str, n_ctx: int = 8192, n_threads: int | None = None,
                 n_gpu_layers: int = 0, batch_size: int | None = None, kv_reuse: bool = True,
                 reuse_reply: bool = False, tool_format: str | None = None):
        """`kv_reuse=False` scores every chat cold, sharing nothing between chats (the baseline the
        benchmark compares); `reuse_reply=True` also reuses the reply's KV written while generating
        (faster checks, log-probabilities off by up to a few tenths of a nat: module doc)."""
        if not path.is_file():
            raise UserError(f"GGUF file {path} not found: pass --model gguf:PATH to an existing .gguf file")
        silence_llama_log()
        from llama_cpp import Llama

        self.spec = spec
        self.path = path
        self.model_id = path.name
        self.batch_size = min(max(1, batch_size or DEFAULT_BATCH_SIZE), _MAX_SEQUENCES // 2)
        self.kv_reuse = kv_reuse
        self.reuse_reply = reuse_reply
        try:
            trained = trained_context(path) or n_ctx  # the window the model was trained for caps ours
            self.n_ctx = min(n_ctx, trained)
            with without_amx_repacking(), multi_sequence(_MAX_SEQUENCES):
                # one cache of n_ctx cells shared by all sequences: the same memory as one sequence
                threads = n_threads or os.cpu_count()  # for one token per step and for batches alike
                self.llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_batch=_N_BATCH, n_ubatch=_N_BATCH,
                                 n_threads=threads, n_threads_batch=threads, n_gpu_layers=n_gpu_layers,
                                 logits_all=False, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise UserError(f"{path} could not be loaded by llama.cpp ({exc}); is it a GGUF chat model?") from exc
        md = self.llm.metadata
        source = md.get("tokenizer.chat_template")
        if not source:
            raise UserError(f"{path} has no chat template in its metadata; bailbench needs a chat (instruct) model")
        self._bos = self._token_text(md.get("tokenizer.ggml.bos_token_id"))
        self._eos = self._token_text(md.get("tokenizer.ggml.eos_token_id"))
        self._add_bos = md.get("tokenizer.ggml.add_bos_token", "false") == "true"
        # GGUF keeps a tokenizer's named templates as tokenizer.chat_template.NAME; tools use `tool_use`
        self.template = ChatTemplate(source, bos_token=self._bos, eos_token=self._eos,
                                     tool_use=md.get("tokenizer.chat_template.tool_use"))
        self.tool_format = check_format(tool_format) if tool_format else self.template.tool_format
        self.name_hints = [md.get("general.basename", ""), md.get("general.name", "")]

        import llama_cpp as C

        self._C = C
        self._ctx = self.llm._ctx.ctx
        self._mem = C.llama_get_memory(self._ctx)
        self._vocab = self.llm._model.vocab
        self._n_vocab = self.llm.n_vocab()
        self._cells = self.llm.n_ctx()
        # seq 0 is left to the Llama object's own API (llm.eval); ours are 1..n_seq_max-1
        self._free_ids = list(range(C.llama_n_seq_max(self._ctx) - 1, 0, -1))
        self._entries: list[_Seq] = []  # finished generations kept for the bail prompt, oldest first
        self._batch = C.llama_batch_init(_N_BATCH, 0, _MAX_SEQUENCES)
        self._pieces: dict[int, bytes] = {}
        self._exact = 0  # leading tokens of sequence 0 whose KV came from prefill (see module doc)

    def _token_text(self, token_id) -> str:
        if token_id is None:
            return ""
        return self.llm.detokenize([int(token_id)], special=True).decode("utf-8", errors="replace")

    def identity(self) -> dict:
        """The batch size is part of it: replies depend on the batch they were decoded in (module doc)."""
        return {"model_id": self.model_id, "model_bytes": self.path.stat().st_size, "batch_size": self.batch_size}

    def tokens(self, text: str) -> list[int]:
        add_bos = self._add_bos and not (self._bos and text.startswith(self._bos))
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def __del__(self):
        if getattr(self, "_batch", None) is not None:
            self._C.llama_batch_free(self._batch)
            self._batch = None

    # -- the cache ---------------------------------------------------------------------

    def _clear(self) -> None:
        for e in self._entries:
            self._release(e.seq)
        self._entries = []
        self._C.llama_memory_clear(self._mem, True)
        self.llm.n_tokens = self._exact = 0

    def _release(self, seq: int) -> None:
        self._C.llama_memory_seq_rm(self._mem, seq, -1, -1)
        self._free_ids.append(seq)

    def _take_id(self, keep: Sequence[_Seq] = ()) -> int:
        if not self._free_ids:
            oldest = next(e for e in self._entries if e not in keep)
            self._entries.remove(oldest)
            self._release(oldest.seq)
        return self._free_ids.pop()

    def _live_entries(self) -> list[_Seq]:
        """Entries whose cells still hold what we wrote (code using `llm.eval` may have cleared them)."""
        alive = []
        for e in self._entries:
            if self._C.llama_memory_seq_pos_max(self._mem, e.seq) == len(e.tokens) - 1:
                alive.append(e)
            else:
                self._release(e.seq)
        self._entries = alive
        return alive

    def _used(self) -> int:
        """Cells the kept entries may hold (an upper bound: shared cells are counted per sequence)."""
        return sum(len(e.tokens) for e in self._entries)

    def _make_room(self, cells: int, keep: Sequence[_Seq] = ()) -> bool:
        """Drop the oldest entries not in `keep` until `cells` more fit; False if they cannot."""
        for e in list(self._entries):
            if self._cells - self._used() >= cells:
                break
            if e not in keep:
                self._entries.remove(e)
                self._release(e.seq)
        return self._cells - self._used() >= cells

    @staticmethod
    def _common(a: list[int], b: list[int]) -> int:
        n = min(len(a), len(b))
        i = 0
        while i < n and a[i] == b[i]:
            i += 1
        return i

    def _best_prefix(self, toks: list[int], limit: int, candidates: Sequence[_Seq], prompt_only: bool
                     ) -> tuple[_Seq | None, int]:
        """The cached sequence sharing the longest prefix with `toks` (at most `limit` tokens)."""
        best, length = None, 0
        for e in candidates:
            held = e.tokens[: e.prompt] if prompt_only else e.tokens
            n = min(self._common(held, toks), limit)
            if n > length:
                best, length = e, n
        return best, length

    # -- decoding ----------------------------------------------------------------------

    def _decode(self, items: list[list], on_logits: Callable[[int, int], None]) -> None:
        """Decode (token, pos, seq ids, want logits) items in order, `_N_BATCH` at a time;
        `on_logits(item index, batch row)` is called after each call for the items that asked."""
        C, b = self._C, self._batch
        for start in range(0, len(items), _N_BATCH):
            chunk = items[start:start + _N_BATCH]
            b.n_tokens = len(chunk)
            for i, (tok, pos, seqs, want) in enumerate(chunk):
                b.token[i] = tok
                b.pos[i] = pos
                b.n_seq_id[i] = len(seqs)
                for j, s in enumerate(seqs):
                    b.seq_id[i][j] = s
                b.logits[i] = want
            rc = C.llama_decode(self._ctx, b)
            if rc != 0:
                raise RuntimeError(f"llama_decode failed ({rc}): the KV cache of {self._cells} cells is full")
            for i, (_, _, _, want) in enumerate(chunk):
                if want:
                    on_logits(start + i, i)

    def _logprobs(self, row: int) -> np.ndarray:
        logits = np.ctypeslib.as_array(self._C.llama_get_logits_ith(self._ctx, row), shape=(self._n_vocab,))
        logits = logits.astype(np.float64)
        top = logits.max()
        return logits - top - math.log(np.exp(logits - top).sum())

    def _last_logprobs(self) -> np.ndarray:
        """Log-probabilities after the Llama object's own last `eval` (for callers using `llm.eval`)."""
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.llm.n_vocab(),)).astype(np.float64)
        top = logits.max()
        return logits - top - math.log(np.exp(logits - top).sum())

    @staticmethod
    def _trie(paths: list[tuple[int, _Seq | None, int, list[int]]]) -> tuple[list[list], list[list[int]]]:
        """Batch items for paths (sequence id, cached source, copied length, tokens after it).
        Paths that copy the same source prefix and go on with the same tokens share those
        tokens: one item, one cell, several sequence ids. Returns the items (parents before
        children) and, per path, the item index of each of its tokens."""
        roots: dict = {}
        items: list[list] = []
        where: list[list[int]] = []
        for seq, src, start, toks in paths:
            level = roots.setdefault((src.seq if src else None, start), {})
            idx = []
            for j, tok in enumerate(toks):
                node = level.get(tok)
                if node is None:
                    node = level[tok] = (len(items), {})
                    items.append([tok, start + j, [seq], False])
                else:
                    items[node[0]][2].append(seq)
                idx.append(node[0])
                level = node[1]
            where.append(idx)
        return items, where

    # -- generation --------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out, work = self.prepare_generation(requests)
        self._clear()  # a reply then depends on this call's requests alone (module doc)
        queue = deque(work)
        active: list[_Active] = []
        pending: dict[int, int] = {}  # seq -> its sampled token, decoded in the next step
        while queue or active:
            admitted = self._admit(queue, active)
            paths = []
            for a, src, n in admitted:
                if src is not None:
                    self._C.llama_memory_seq_cp(self._mem, src.seq, a.seq, 0, n)
                paths.append((a.seq, src, n, a.p.tokens[n:]))
            items, where = self._trie(paths)
            readers: dict[int, list[_Active]] = {}  # item index -> sequences sampling from its logits
            for (a, _, _), idx in zip(admitted, where):
                items[idx[-1]][3] = True
                readers.setdefault(idx[-1], []).append(a)
                a.start = time.perf_counter()
                active.append(a)
            for a in active:
                if a.seq in pending:
                    readers[len(items)] = [a]
                    items.append([pending.pop(a.seq), len(a.p.tokens) + len(a.out) - 1, [a.seq], True])
            sampled: list[tuple[_Active, int]] = []
            self._decode(items, lambda i, row: sampled.extend(
                (a, self._C.llama_sampler_sample(a.sampler.sampler, self._ctx, row)) for a in readers[i]))
            for a, tok in sampled:
                if self._C.llama_vocab_is_eog(self._vocab, tok):
                    reason = "stop"
                else:
                    a.out.append(tok)
                    reason = "length" if len(a.out) >= a.max_new else ""
                if reason:
                    active.remove(a)
                    out[a.p.index] = self._finish(a, reason)
                else:
                    pending[a.seq] = tok
        return out  # type: ignore[return-value]

    def _admit(self, queue: deque, active: list[_Active]) -> list[tuple[_Active, _Seq | None, int]]:
        """Start queued requests while fewer than batch_size run and their worst case fits the
        cache; each copies the longest prompt prefix it shares with a sequence already decoded."""
        admitted: list[tuple[_Active, _Seq | None, int]] = []
        reserved = sum(len(a.p.tokens) + a.max_new for a in active)
        running = [_Seq(a.seq, a.p.tokens, len(a.p.tokens)) for a in active]
        while queue and len(active) + len(admitted) < self.batch_size:
            p = queue[0]
            max_new = min(p.request.max_tokens, self.n_ctx - len(p.tokens))
            need = len(p.tokens) + max_new
            sources = [src for _, src, _ in admitted if src is not None]
            if not self._make_room(reserved + need, keep=sources) and (active or admitted):
                break  # wait for a running sequence to finish
            queue.popleft()
            reserved += need
            src, n = self._best_prefix(p.tokens, len(p.tokens) - 1, self._entries + running, True)
            seq = self._take_id(keep=sources + [src] if src else sources)
            admitted.append((_Active(p, seq, self._sampler(p.request), max_new), src, n))
        return admitted

    def _sampler(self, req: GenerationRequest) -> LlamaSampler:
        """The chain create_completion builds for PLAIN_SAMPLING, seeded with the request's seed."""
        from llama_cpp._internals import LlamaSampler

        s = LlamaSampler()
        s.add_penalties(n_vocab=self._n_vocab, penalty_last_n=self.llm.last_n_tokens_size, penalty_repeat=1.0,
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

    def _finish(self, a: _Active, reason: str) -> Generation:
        p = a.p
        decoded = a.out[:-1] if reason == "length" else a.out  # the last sampled token was never decoded
        self._entries.append(_Seq(a.seq, p.tokens + decoded, len(p.tokens)))
        a.sampler.close()
        return Generation(p.rendered, text=p.request.chat.assistant_prefix + self.reply_text(a.out),
                          prompt_tokens=len(p.tokens), completion_tokens=len(a.out), finish_reason=reason,
                          seconds=time.perf_counter() - a.start)

    def reply_text(self, tokens: list[int]) -> str:
        """Generated tokens as text: control tokens are dropped as llama.cpp does, except those
        that open or delimit tool calls, which the tool-call parsers read."""
        return b"".join(self._piece(t) for t in tokens).decode("utf-8", errors="ignore")

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            plain = self.llm.detokenize([token], special=False)
            if not plain and self._C.llama_vocab_is_control(self._vocab, token):
                special = self.llm.detokenize([token], special=True)
                plain = special if special.decode("utf-8", "replace") in TOOL_CALL_TOKENS else b""
            piece = self._pieces[token] = plain
        return piece

    # -- scoring -----------------------------------------------------------------------

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]:
        alone = lambda c: self.llm.tokenize(c.encode("utf-8"), add_bos=False, special=False)  # noqa: E731
        out, work = self.prepare_scoring(chats, continuations, alone)
        if self.reuse_reply:
            return self._score_batched(out, work)
        for e in self._entries:  # sequence 0 alone in the cache: its cells lie as in a cold evaluation
            self._release(e.seq)
        self._entries = []
        for p in work:
            start = time.perf_counter()
            if not self.kv_reuse:
                self.llm.n_tokens = self._exact = 0
            logits = self._eval_prefix(p.tokens)
            totals: dict[int, float] = {}
            self._walk(_trie(p.continuations), logits, len(p.tokens), 0.0, totals)
            out[p.index] = Score(p.rendered, [totals[i] for i in range(len(p.continuations))], len(p.tokens),
                                 seconds=time.perf_counter() - start)
        return out  # type: ignore[return-value]

    def _reuse(self, toks: list[int]) -> int:
        """Keep the cached prefix of `toks` that prefill computed, less at least one token so
        that fresh logits are always decoded; drop the rest."""
        llm = self.llm
        common = 0
        for a, b in zip(llm.input_ids[: min(llm.n_tokens, self._exact)], toks):
            if a != b:
                break
            common += 1
        common = min(common, len(toks) - 1)
        llm.n_tokens = common
        return common

    def _eval_prefix(self, prefix: list[int]) -> np.ndarray:
        """Evaluate the prefix in sequence 0, reusing what of it the KV cache already holds."""
        common = self._reuse(prefix)
        self.llm.eval(prefix[common:])
        self._exact = len(prefix)
        return self._last_logprobs()

    def _walk(self, node: dict, logprobs: np.ndarray, pos: int, acc: float, totals: dict[int, float]) -> None:
        for token, (child, ends) in node.items():
            lp = acc + float(logprobs[token])
            for i in ends:
                totals[i] = lp
            if child:
                self.llm.n_tokens = pos
                self.llm.eval([token])
                self._walk(child, self._last_logprobs(), pos + 1, lp, totals)

    def _score_batched(self, out: list[Score | None], work: list[PreparedScore]) -> list[Score]:
        """All chats as one trie, continuing from the generated sequences' KV (`reuse_reply`)."""
        entries = self._live_entries()
        while work:
            scored = self._score_some(work, entries)
            if not scored:  # not even one chat fits beside the kept sequences: drop them
                self._clear()
                entries = []
                continue
            for p, s in zip(work, scored):
                out[p.index] = s
            work = work[len(scored):]
        return out  # type: ignore[return-value]

    def _score_some(self, work: list[PreparedScore], entries: list[_Seq]) -> list[Score]:
        """Score the leading chats of `work` that fit in the free sequence ids and cells, as one trie."""
        start = time.perf_counter()
        plans = []  # (prepared, cached source, copied length)
        ids, cells = len(self._free_ids), self._cells - self._used()
        for p in work:
            src, n = (self._best_prefix(p.tokens, len(p.tokens) - 1, entries, not self.reuse_reply) if entries
                      else (None, 0))
            new = len(p.tokens) - n + sum(len(c) for c in p.continuations)
            if len(p.continuations) > ids or new > cells:
                break
            ids, cells = ids - len(p.continuations), cells - new
            plans.append((p, src, n))
        paths, owners = [], []
        for k, (p, src, n) in enumerate(plans):
            for c in p.continuations:
                seq = self._free_ids.pop()
                if src is not None:
                    self._C.llama_memory_seq_cp(self._mem, src.seq, seq, 0, n)
                paths.append((seq, src, n, p.tokens[n:] + c))
                owners.append((k, len(p.tokens) - n, c))
        items, where = self._trie(paths)
        for (_, at, c), idx in zip(owners, where):  # logits before each continuation token
            for j in range(len(c)):
                items[idx[at - 1 + j]][3] = True
        rows: dict[int, np.ndarray] = {}
        self._decode(items, lambda i, row: rows.__setitem__(i, self._logprobs(row)))
        for seq, *_ in paths:
            self._release(seq)
        totals: list[list[float]] = [[] for _ in plans]
        for (k, at, c), idx in zip(owners, where):
            totals[k].append(sum(float(rows[idx[at - 1 + j]][tok]) for j, tok in enumerate(c)))
        seconds = (time.perf_counter() - start) / max(1, len(plans))
        return [Score(p.rendered, t, len(p.tokens), seconds=seconds) for (p, _, _), t in zip(plans, totals)]


_LOG_CALLBACK = None


def silence_llama_log() -> None:
    """Route llama.cpp's and ggml's log lines to nowhere, so that a user error (a file that is
    not a GGUF model, a model that does not load) is bailbench's one line on stderr."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return
    import llama_cpp  # its import installs a callback that prints errors to stderr

    _LOG_CALLBACK = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


@contextlib.contextmanager
def multi_sequence(n_seq_max: int):
    """Create the Llama object's context with room for several sequences in one unified KV
    cache (the Llama class sets `n_seq_max` only for embeddings)."""
    import llama_cpp.llama_cpp as C

    original = C.llama_context_default_params

    def params():
        p = original()
        p.n_seq_max = min(n_seq_max, C.llama_max_parallel_sequences())
        p.kv_unified = True
        return p

    C.llama_context_default_params = params
    try:
        yield
    finally:
        C.llama_context_default_params = original


@contextlib.contextmanager
def without_amx_repacking():
    """Load weights without llama.cpp's extra (repacked) buffer types when the build uses AMX.

    A llama.cpp built natively on a CPU with AMX crashes (SIGSEGV in
    ggml_backend_amx_mul_mat) on the first decode of small quantised models such as the
    embedded SmolLM2 Q4_1; plain CPU buffers avoid that path.
    """
    import llama_cpp.llama_cpp as C

    if b"AMX_INT8 = 1" not in C.llama_print_system_info():
        yield
        return
    original = C.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = False
        return p

    C.llama_model_default_params = params
    try:
        yield
    finally:
        C.llama_model_default_params = original


def _trie(sequences: list[list[int]]) -> dict:
    """token -> (children, indices of sequences ending here)."""
    root: dict = {}
    for i, seq in enumerate(sequences):
        node = root
        for j, tok in enumerate(seq):
            child, ends = node.setdefault(tok, ({}, []))
            if j == len(seq) - 1:
                ends.append(i)
            node = child
    return root
