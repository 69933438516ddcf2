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
from .base import Generation, GenerationRequest, LocalBackend, Score


class VLLMBackend(LocalBackend):
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

    def tokens(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False).input_ids

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        from vllm import SamplingParams

        out, work = self.prepare_generation(requests)
        prompts = [{"prompt_token_ids": p.tokens} for p in work]
        params = [SamplingParams(temperature=p.request.temperature, top_p=1.0, seed=p.request.seed,
                                 max_tokens=min(p.request.max_tokens, self.n_ctx - len(p.tokens)),
                                 skip_special_tokens=False) for p in work]
        start = time.perf_counter()
        results = self.llm.generate(prompts, params, use_tqdm=False) if prompts else []
        seconds = (time.perf_counter() - start) / max(1, len(prompts))
        for p, res in zip(work, results):
            o = res.outputs[0]
            out[p.index] = Generation(p.rendered, text=p.request.chat.assistant_prefix + o.text,
                                      prompt_tokens=len(p.tokens), completion_tokens=len(o.token_ids),
                                      finish_reason=o.finish_reason or "", seconds=seconds)
        return out  # type: ignore[return-value]

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]:
        from vllm import SamplingParams

        out, work = self.prepare_scoring(chats, continuations)
        # every (prefix, continuation) as one prompt: the prefix cache computes each prefix once
        prompts = [{"prompt_token_ids": p.tokens + c} for p in work for c in p.continuations]
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        start = time.perf_counter()
        results = iter(self.llm.generate(prompts, params, use_tqdm=False) if prompts else [])
        seconds = (time.perf_counter() - start) / max(1, len(work))
        for p in work:
            lps = []
            for c in p.continuations:
                res = next(results)
                lps.append(sum(res.prompt_logprobs[len(p.tokens) + j][tok].logprob for j, tok in enumerate(c)))
            out[p.index] = Score(p.rendered, lps, len(p.tokens), seconds=seconds)
        return out  # type: ignore[return-value]
