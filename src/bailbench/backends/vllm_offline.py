"""vLLM's offline engine on GPUs: the whole work list in one call, automatic prefix
caching (the 10 samples of a prompt, and the two symbols after one bail-prompt context,
share their prefix), per-request seeds, and prompt logprobs for scoring."""

from __future__ import annotations

import time
from typing import Sequence

from ..chat.template import ChatTemplate
from ..chat.toolcalls import format_for_template
from ..chat.types import Chat
from ..errors import UserError
from .base import CONTEXT_TOO_LONG, Backend, Generation, GenerationRequest, Score, continuation_tokens


class VLLMBackend(Backend):
    supports_logprobs = True
    batch_size = 100_000  # hand vLLM the whole list: it schedules and batches itself

    def __init__(self, name: str, *, spec: str, n_ctx: int = 8192, tensor_parallel: int = 1,
                 dtype: str | None = None, gpu_memory_utilization: float = 0.9):
        try:
            import torch
            import vllm
        except ImportError as exc:
            raise UserError("the vllm backend needs vLLM on a machine with a CUDA GPU: pip install vllm "
                            "(or use hf:MODEL, which runs anywhere)") from exc
        if not torch.cuda.is_available():
            raise UserError("the vllm backend needs a CUDA GPU and none is visible; use hf:MODEL or gguf:PATH on CPU")
        self.vllm = vllm
        self.spec = spec
        self.model_id = name
        self.llm = vllm.LLM(model=name, enable_prefix_caching=True, tensor_parallel_size=tensor_parallel,
                            max_model_len=n_ctx, dtype=dtype or "auto", seed=0,
                            gpu_memory_utilization=gpu_memory_utilization)
        self.tok = self.llm.get_tokenizer()
        source = self.tok.chat_template
        if not source:
            raise UserError(f"{name} has no chat template; bailbench needs a chat (instruct) model")
        self.template = ChatTemplate(source, bos_token=self.tok.bos_token or "", eos_token=self.tok.eos_token or "")
        self.tool_format = format_for_template(source)
        self.n_ctx = n_ctx
        self.name_hints = [name]

    def render(self, chat: Chat) -> str:
        return self.template.render(chat)

    def tokens(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False).input_ids

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        from vllm import SamplingParams

        out: list[Generation | None] = [None] * len(requests)
        prompts, params, where = [], [], []
        for i, req in enumerate(requests):
            rendered = self.render(req.chat)
            toks = self.tokens(rendered)
            if len(toks) >= self.n_ctx:
                out[i] = Generation(rendered, prompt_tokens=len(toks), skipped=CONTEXT_TOO_LONG)
                continue
            prompts.append({"prompt_token_ids": toks})
            params.append(SamplingParams(temperature=req.temperature, top_p=1.0, seed=req.seed,
                                         max_tokens=min(req.max_tokens, self.n_ctx - len(toks)),
                                         skip_special_tokens=False))
            where.append((i, rendered, len(toks)))
        start = time.perf_counter()
        results = self.llm.generate(prompts, params, use_tqdm=False) if prompts else []
        seconds = (time.perf_counter() - start) / max(1, len(prompts))
        for (i, rendered, n_prompt), res in zip(where, results):
            o = res.outputs[0]
            out[i] = Generation(rendered, text=requests[i].chat.assistant_prefix + o.text, prompt_tokens=n_prompt,
                                completion_tokens=len(o.token_ids), finish_reason=o.finish_reason or "",
                                seconds=seconds)
        return out  # type: ignore[return-value]

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]:
        from vllm import SamplingParams

        out: list[Score | None] = [None] * len(chats)
        prompts, where = [], []
        for i, chat in enumerate(chats):
            rendered = self.render(chat)
            prefix = self.tokens(rendered)
            conts = [continuation_tokens(self.tokens, rendered, prefix, c) for c in continuations]
            if len(prefix) + max(len(c) for c in conts) > self.n_ctx:
                out[i] = Score(rendered, [float("nan")] * len(conts), len(prefix), skipped=CONTEXT_TOO_LONG)
                continue
            for k, c in enumerate(conts):
                prompts.append({"prompt_token_ids": prefix + c})
                where.append((i, k, rendered, len(prefix), c))
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        start = time.perf_counter()
        results = self.llm.generate(prompts, params, use_tqdm=False) if prompts else []
        seconds = (time.perf_counter() - start) / max(1, len(chats))
        totals: dict[int, list[float]] = {}
        meta: dict[int, tuple[str, int]] = {}
        for (i, k, rendered, n_prefix, cont), res in zip(where, results):
            lp = sum(res.prompt_logprobs[n_prefix + j][tok].logprob for j, tok in enumerate(cont))
            totals.setdefault(i, [0.0] * len(continuations))[k] = lp
            meta[i] = (rendered, n_prefix)
        for i, lps in totals.items():
            out[i] = Score(meta[i][0], lps, meta[i][1], seconds=seconds)
        return out  # type: ignore[return-value]
