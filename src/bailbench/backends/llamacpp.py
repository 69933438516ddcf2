"""GGUF models through llama.cpp (llama-cpp-python), on CPU or GPU.

Prompts are rendered with the chat template stored in the GGUF, so the stored input is
exactly what the model saw. Scoring evaluates the shared prefix once and walks the
continuations as a token trie, reusing the KV cache: the two bail-prompt symbols share
their first token in most tokenizers, so both cost a handful of single-token steps.

KV reuse is limited to entries computed by prompt prefill. Those are bit-identical
however the prefill was split; entries written while generating token by token differ
slightly (llama.cpp's single-token path), so reusing them would make a score depend on
what ran before it.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..chat.template import ChatTemplate
from ..chat.toolcalls import format_for_template
from ..chat.types import Chat
from ..errors import UserError
from .base import Generation, GenerationRequest, LocalBackend, Prepared, Score
from .gguf_meta import trained_context

# Sampling as vLLM's defaults, behind the paper's open-weight runs (llama.cpp's differ).
PLAIN_SAMPLING = dict(top_p=1.0, top_k=0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0,
                      frequency_penalty=0.0, presence_penalty=0.0)


class LlamaCppBackend(LocalBackend):
    supports_logprobs = True
    batch_size = 1  # one sequence at a time; keeps rollout -> bail-prompt KV reuse

    def __init__(self, path: Path, *, spec: str, n_ctx: int = 8192, n_threads: int | None = None,
                 n_gpu_layers: int = 0, batch_size: int | None = None):
        if not path.is_file():
            raise UserError(f"GGUF file {path} not found: pass --model gguf:PATH to an existing .gguf file")
        from llama_cpp import Llama

        self.spec = spec
        self.path = path
        self.model_id = path.name
        try:
            trained = trained_context(path) or n_ctx  # the window the model was trained for caps ours
            with without_amx_repacking():
                self.llm = Llama(model_path=str(path), n_ctx=min(n_ctx, trained), n_threads=n_threads or os.cpu_count(),
                                 n_gpu_layers=n_gpu_layers, logits_all=False, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise UserError(f"{path} could not be loaded by llama.cpp ({exc}); is it a GGUF chat model?") from exc
        self.n_ctx = self.llm.n_ctx()
        md = self.llm.metadata
        source = md.get("tokenizer.chat_template")
        if not source:
            raise UserError(f"{path} has no chat template in its metadata; bailbench needs a chat (instruct) model")
        self._bos = self._token_text(md.get("tokenizer.ggml.bos_token_id"))
        self._eos = self._token_text(md.get("tokenizer.ggml.eos_token_id"))
        self._add_bos = md.get("tokenizer.ggml.add_bos_token", "false") == "true"
        self.template = ChatTemplate(source, bos_token=self._bos, eos_token=self._eos)
        self.tool_format = format_for_template(source)
        self._exact = 0  # leading cached tokens whose KV came from prefill (see module doc)
        self.name_hints = [md.get("general.basename", ""), md.get("general.name", "")]

    def _token_text(self, token_id) -> str:
        if token_id is None:
            return ""
        return self.llm.detokenize([int(token_id)], special=True).decode("utf-8", errors="replace")

    def identity(self) -> dict:
        return {"model_id": self.model_id, "model_bytes": self.path.stat().st_size}

    def tokens(self, text: str) -> list[int]:
        add_bos = self._add_bos and not (self._bos and text.startswith(self._bos))
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out, work = self.prepare_generation(requests)
        for p in work:
            out[p.index] = self._generate_one(p)
        return out  # type: ignore[return-value]

    def _generate_one(self, p: Prepared) -> Generation:
        req, rendered, toks = p.request, p.rendered, p.tokens
        start = time.perf_counter()
        self._reuse(toks)
        out = self.llm.create_completion(
            toks, max_tokens=min(req.max_tokens, self.n_ctx - len(toks)), temperature=req.temperature,
            seed=req.seed, **PLAIN_SAMPLING)
        choice = out["choices"][0]
        gen = Generation(rendered, text=req.chat.assistant_prefix + choice["text"],
                          prompt_tokens=out["usage"]["prompt_tokens"],
                          completion_tokens=out["usage"]["completion_tokens"],
                          finish_reason=choice.get("finish_reason") or "",
                          seconds=time.perf_counter() - start)
        self._exact = len(toks)
        return gen

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

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]:
        alone = lambda c: self.llm.tokenize(c.encode("utf-8"), add_bos=False, special=False)  # noqa: E731
        out, work = self.prepare_scoring(chats, continuations, alone)
        for p in work:
            start = time.perf_counter()
            logits = self._eval_prefix(p.tokens)
            totals: dict[int, float] = {}
            self._walk(_trie(p.continuations), logits, len(p.tokens), 0.0, totals)
            out[p.index] = Score(p.rendered, [totals[i] for i in range(len(p.continuations))], len(p.tokens),
                                 seconds=time.perf_counter() - start)
        return out  # type: ignore[return-value]


    def _eval_prefix(self, prefix: list[int]) -> np.ndarray:
        """Evaluate the prefix, reusing what of it the KV cache already holds."""
        common = self._reuse(prefix)
        self.llm.eval(prefix[common:])
        self._exact = len(prefix)
        return self._last_logprobs()

    def _last_logprobs(self) -> np.ndarray:
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.llm.n_vocab(),)).astype(np.float64)
        top = logits.max()
        return logits - top - math.log(np.exp(logits - top).sum())

    def _walk(self, node: dict, logprobs: np.ndarray, pos: int, acc: float, totals: dict[int, float]) -> None:
        for token, (child, ends) in node.items():
            lp = acc + float(logprobs[token])
            for i in ends:
                totals[i] = lp
            if child:
                self.llm.n_tokens = pos
                self.llm.eval([token])
                self._walk(child, self._last_logprobs(), pos + 1, lp, totals)


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
