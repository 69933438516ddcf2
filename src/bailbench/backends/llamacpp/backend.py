"""The llama.cpp backend: the GGUF model loaded, its chat template and tokenizer, reply text,
and generation and scoring over one context (the package doc says how and why)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ...chat.template import ChatTemplate
from ...chat.toolcalls import CONTROL_TOKENS, check_format
from ...chat.types import Chat
from ...errors import UserError
from ..base import Generation, GenerationRequest, LocalBackend, PreparedScore, Score
from ..gguf_meta import trained_context
from ..token_trie import token_trie
from .cache import SequenceCache
from .decoding import N_BATCH, Decoder
from .generation import generate
from .loading import multi_sequence, silence_llama_log, without_amx_repacking
from .scoring import eval_prefix, last_logprobs, score_on_replies, walk

# Sequences decoded together by default. Measured on 2 CPU cores (tokens per CPU-second, SmolLM2 Q4_1):
# 131 one at a time, 167 at 8, 196 at 16; prefill, the ceiling, 311 (benchmarks/llamacpp_speed.py).
DEFAULT_BATCH_SIZE = 16
# Control tokens that open or delimit a tool call or reasoning in some chat format; kept in reply text.
TOOL_CALL_TOKENS = CONTROL_TOKENS
_MAX_SEQUENCES = 64  # sequence ids in the context (the cache is shared, so they cost no memory)


class LlamaCppBackend(LocalBackend):
    batch_size = DEFAULT_BATCH_SIZE

    def __init__(self, path: Path, *, spec: str, n_ctx: int = 8192, n_threads: int | None = None,
                 n_gpu_layers: int = 0, batch_size: int | None = None, kv_reuse: bool = True,
                 reuse_reply: bool = False, tool_format: str | None = None):
        """`kv_reuse=False` scores every chat cold, sharing nothing between chats (the baseline the
        benchmark compares); `reuse_reply=True` also reuses the reply's KV written while generating
        (faster checks, log-probabilities off by up to a few tenths of a nat: package doc)."""
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
                self.llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_batch=N_BATCH, n_ubatch=N_BATCH,
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
        ctx = self.llm._ctx.ctx
        self._vocab = self.llm._model.vocab
        cells = self.llm.n_ctx()
        self._decoder = Decoder(C, ctx, self._vocab, self.llm.n_vocab(), cells, _MAX_SEQUENCES)
        # seq 0 is left to the Llama object's own API (llm.eval); ours are 1..n_seq_max-1
        self._cache = SequenceCache(C, C.llama_get_memory(ctx), cells,
                                    free_ids=list(range(C.llama_n_seq_max(ctx) - 1, 0, -1)))
        self._pieces: dict[int, bytes] = {}
        self._exact = 0  # leading tokens of sequence 0 whose KV came from prefill (see package doc)

    def _token_text(self, token_id) -> str:
        if token_id is None:
            return ""
        return self.llm.detokenize([int(token_id)], special=True).decode("utf-8", errors="replace")

    def identity(self) -> dict:
        """The batch size is part of it: replies depend on the batch they were decoded in (package doc)."""
        return {"model_id": self.model_id, "model_bytes": self.path.stat().st_size, "batch_size": self.batch_size}

    def tokens(self, text: str) -> list[int]:
        add_bos = self._add_bos and not (self._bos and text.startswith(self._bos))
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _clear(self) -> None:
        """Empty the KV cache, sequence 0 included."""
        self._cache.clear()
        self.llm.n_tokens = self._exact = 0

    def _last_logprobs(self) -> np.ndarray:
        """Log-probabilities after the Llama object's own last `eval` (for callers using `llm.eval`)."""
        return last_logprobs(self.llm)

    # -- generation --------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out, work = self.prepare_generation(requests)
        self._clear()  # a reply then depends on this call's requests alone (package doc)
        done = generate(work, self._decoder, self._cache, batch_size=self.batch_size, n_ctx=self.n_ctx,
                        penalty_last_n=self.llm.last_n_tokens_size, reply_text=self.reply_text)
        for i, g in done.items():
            out[i] = g
        return out  # type: ignore[return-value]

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
            return self._score_on_replies(out, work)
        self._cache.release_all()  # sequence 0 alone in the cache: its cells lie as in a cold evaluation
        for p in work:
            start = time.perf_counter()
            if not self.kv_reuse:
                self.llm.n_tokens = self._exact = 0
            logprobs = eval_prefix(self.llm, p.tokens, self._exact)
            self._exact = len(p.tokens)
            out[p.index] = Score(p.rendered, walk(self.llm, token_trie(p.continuations), logprobs, len(p.tokens)),
                                 len(p.tokens), seconds=time.perf_counter() - start)
        return out  # type: ignore[return-value]

    def _score_on_replies(self, out: list[Score | None], work: list[PreparedScore]) -> list[Score]:
        """All chats as one trie, continuing from the generated sequences' KV (`reuse_reply`)."""
        entries = self._cache.live_entries()
        while work:
            scored = score_on_replies(work, entries, self._decoder, self._cache)
            if not scored:  # not even one chat fits beside the kept sequences: drop them
                self._clear()
                entries = []
                continue
            for p, s in zip(work[: len(scored)], scored, strict=True):
                out[p.index] = s
            work = work[len(scored):]
        return out  # type: ignore[return-value]
