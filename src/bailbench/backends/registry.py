"""Model specs (`provider:name`) to backends. Heavy libraries are imported only when used.

A backend is a factory `(name, *, spec, options) -> Backend` registered under the
`bailbench.backends` entry-point group; a package that registers one there adds a
provider (`bailbench run --model myprovider:NAME`), as the built-in ones below do.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from ..errors import UserError
from ..settings import Checked, above, at_least, setting
from .base import Backend
from .embedded import EMBEDDED, embedded_gguf, weights

GROUP = "bailbench.backends"


def providers() -> dict[str, EntryPoint]:
    """Backends by provider name, from the `bailbench.backends` entry-point group: the
    built-in ones register there exactly as a third-party package does."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def split_spec(spec: str) -> tuple[str, str]:
    if spec == EMBEDDED:
        return "gguf", str(embedded_gguf())
    provider, sep, name = spec.partition(":")
    known = providers()
    if not sep or provider not in known or not name:
        raise UserError(f"unknown model spec {spec!r}: use {EMBEDDED}, or provider:name with provider one of "
                        f"{', '.join(known)} (e.g. gguf:./model.gguf, hf:Qwen/Qwen2.5-7B-Instruct)")
    return provider, name


def _tool_format(fmt: str) -> str | None:
    from ..chat.toolcalls import check_format

    check_format(fmt)
    return None


def _steer(text: str) -> str | None:
    from ..mechanism.directions import check_steer

    return check_steer(text)


@dataclass(frozen=True)
class BackendOptions(Checked):
    """Backend flags, declared once for every command; each backend declares which it takes (`takes`)."""

    n_ctx: int = setting(8192, "Context window for local models (capped by the model's own).",
                         check=at_least(1, 10**8))
    gpu_layers: int = setting(0, "gguf: layers offloaded to the GPU (-1 = all; needs a GPU build of "
                                 "llama-cpp-python).", check=at_least(-1, 10_000))
    device: str | None = setting(None, "hf: torch device [cuda if available, else cpu].")
    dtype: str | None = setting(None, "hf, vllm: weights dtype (float32, bfloat16, float16).")
    batch_size: int | None = setting(None, "gguf, hf, vllm: sequences decoded together [gguf: 16; hf: 32 on GPU, 8 "
                                           "on CPU; vllm: groups per engine call, 32 on CPU, 256 on GPU]; part of "
                                           "the run's identity.", check=at_least(1, 10**6))
    tool_format: str | None = setting(None, "gguf, hf, vllm: read tool calls in this format instead of the one the "
                                            "chat template shows (README, How tool calls are read).",
                                      check=_tool_format)
    steer: str | None = setting(None, "hf: add ALPHA x a saved direction to the residual stream after layer LAYER "
                                      "(FILE:LAYER:ALPHA; directions from `bailbench probe`).", check=_steer)
    tensor_parallel: int = setting(1, "vllm: GPUs to shard the model over.", check=at_least(1, 1024))
    base_url: str | None = setting(None, "openai, anthropic: server address (any OpenAI-compatible server).")
    concurrency: int | None = setting(None, "openai, anthropic: requests in flight [16 / 8].",
                                      check=at_least(1, 10**5))
    timeout: float | None = setting(None, "openai, anthropic: seconds per request before a retry.",
                                    check=above(0, 10**6))
    api_key_env: str | None = setting(None, "openai, anthropic: the environment variable holding the key of a "
                                            "--base-url server (OPENAI_API_KEY / ANTHROPIC_API_KEY go only to the "
                                            "provider's own endpoint).")
    batch: bool = setting(False, "openai, anthropic: send requests through the provider's batch API (half price, "
                                 "answers within hours; jobs kept in the run directory, so a killed run collects "
                                 "them instead of paying again).")

    def given(self) -> dict:
        """The options set to something other than their defaults."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}


MIN_GGUF_CTX = 64


def takes(*names: str):
    """Declare which BackendOptions a backend factory uses (others given are an error)."""
    def mark(factory):
        factory.options = names
        return factory
    return mark


def load_backend(spec: str, options: BackendOptions | None = None) -> Backend:
    o = options or BackendOptions()
    provider, name = split_spec(spec)
    try:
        factory = providers()[provider].load()
    except ImportError as exc:
        raise UserError(f"the {provider} backend could not be imported ({exc})") from None
    stray = sorted(set(o.given()) - set(getattr(factory, "options", ())) - {"n_ctx"})
    if stray:
        flags = ", ".join("--" + k.replace("_", "-") for k in stray)
        raise UserError(f"{flags} does not apply to {provider} models (they take: "
                        f"{', '.join('--' + k.replace('_', '-') for k in factory.options) or 'none of the backend flags'})")
    return factory(name, spec=spec, options=o)


# -- the built-in backends (registered in pyproject.toml under `bailbench.backends`) ----------


@takes("n_ctx", "gpu_layers", "batch_size", "tool_format")
def gguf(name: str, *, spec: str, options: BackendOptions) -> Backend:
    from .llamacpp import LlamaCppBackend

    if options.n_ctx < MIN_GGUF_CTX:  # llama.cpp aborts below: the backend reserves 64 sequence ids
        raise UserError(f"--n-ctx {options.n_ctx} is below {MIN_GGUF_CTX}, the least context the llama.cpp backend "
                        "runs with; give a larger --n-ctx")
    return LlamaCppBackend(Path(name).expanduser(), spec=spec, n_ctx=options.n_ctx, n_gpu_layers=options.gpu_layers,
                           batch_size=options.batch_size, tool_format=options.tool_format)


@takes("n_ctx", "device", "dtype", "batch_size", "tool_format", "steer")
def hf(name: str, *, spec: str, options: BackendOptions) -> Backend:
    from .hf import HFBackend

    return HFBackend(weights(name), spec=spec, n_ctx=options.n_ctx, device=options.device, dtype=options.dtype,
                     batch_size=options.batch_size, tool_format=options.tool_format, steer=options.steer)


@takes("n_ctx", "dtype", "tensor_parallel", "batch_size", "tool_format")
def vllm(name: str, *, spec: str, options: BackendOptions) -> Backend:
    from .vllm_offline import VLLMBackend

    return VLLMBackend(name, spec=spec, n_ctx=options.n_ctx, tensor_parallel=options.tensor_parallel,
                       dtype=options.dtype, batch_size=options.batch_size, tool_format=options.tool_format)


def _api(options: BackendOptions) -> dict:
    return {k: getattr(options, k) for k in ("base_url", "concurrency", "timeout", "api_key_env", "batch")
            if getattr(options, k) is not None}


@takes("base_url", "concurrency", "timeout", "api_key_env", "batch")
def openai(name: str, *, spec: str, options: BackendOptions) -> Backend:
    from .openai_api import OpenAIBackend

    return OpenAIBackend(name, spec=spec, **_api(options))


@takes("base_url", "concurrency", "timeout", "api_key_env", "batch")
def anthropic(name: str, *, spec: str, options: BackendOptions) -> Backend:
    from .anthropic_api import AnthropicBackend

    return AnthropicBackend(name, spec=spec, **_api(options))


@takes()
def mock(name: str, *, spec: str, options: BackendOptions) -> Backend:
    from .mock import MockBackend

    return MockBackend(name, spec=spec)
