"""The options a backend takes, declared by the backend: a frozen dataclass of `setting(...)`
fields (settings.py), as Simon Willison's llm declares a model's `Options`. The CLI's flags,
the library's keywords and the experiment files' keys of every registered backend are read
from these classes (`registry.backend_options`), so a backend from another package declares
an option bailbench has never heard of in its own class, and gets all three:

    @dataclass(frozen=True)
    class EchoOptions(Options):
        greeting: str = setting("hello", "The word every answer starts with.")

    @options(EchoOptions)
    def echo(name, *, spec, options: EchoOptions) -> Backend: ...

A factory is called with an instance of its own class holding the values given; a flag that
no field of its class declares is an error, except `--n-ctx`, which every backend accepts.
The help of a flag starts with the providers whose classes declare it ("gguf, hf, vllm: ..."),
written from these declarations, so the texts below leave it out.

Built-in groups share fields by inheritance; an option is declared once, in one class.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Callable, ClassVar, TypeVar

from ..settings import Checked, above, at_least, setting

ALWAYS = "n_ctx"  # every backend accepts it (the API ones ignore it)
F = TypeVar("F", bound=Callable[..., Any])


def _tool_format(fmt: str) -> str | None:
    from ..chat.toolcalls import check_format

    check_format(fmt)
    return None


def _steer(text: str) -> str | None:
    from ..mechanism.directions import check_steer

    return check_steer(text)


@dataclass(frozen=True)
class Options(Checked):
    """What every backend takes; the base of a backend's own options."""

    # whether "they take: ..." lists --n-ctx: accepted by every backend, used by the local ones
    uses_n_ctx: ClassVar[bool] = False

    n_ctx: int = setting(8192, "Context window for local models (capped by the model's own).",
                         check=at_least(1, 10**8))

    def given(self) -> dict:
        """The options set to something other than their defaults."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}


# Groups of one or two fields, so that each backend keeps the order it lists its flags in.


@dataclass(frozen=True)
class LocalOptions(Options):
    """Backends that run the weights here (gguf, hf, vllm)."""

    uses_n_ctx: ClassVar[bool] = True

    batch_size: int | None = setting(None, "sequences decoded together [gguf: 16; hf: 32 on GPU, 8 on CPU; vllm: "
                                           "groups per engine call, 32 on CPU, 256 on GPU]; part of the run's "
                                           "identity.", check=at_least(1, 10**6))
    tool_format: str | None = setting(None, "read tool calls in this format instead of the one the chat template "
                                            "shows (README, How tool calls are read).", check=_tool_format)


@dataclass(frozen=True)
class DtypeOptions(Options):
    dtype: str | None = setting(None, "weights dtype (float32, bfloat16, float16).")


@dataclass(frozen=True)
class _GPULayers(Options):
    gpu_layers: int = setting(0, "layers offloaded to the GPU (-1 = all; needs a GPU build of llama-cpp-python).",
                              check=at_least(-1, 10_000))


@dataclass(frozen=True)
class _Device(Options):
    device: str | None = setting(None, "torch device [cuda if available, else cpu].")


@dataclass(frozen=True)
class _TensorParallel(Options):
    tensor_parallel: int = setting(1, "GPUs to shard the model over.", check=at_least(1, 1024))


@dataclass(frozen=True)
class GGUFOptions(LocalOptions, _GPULayers):
    pass


@dataclass(frozen=True)
class HFOptions(LocalOptions, DtypeOptions, _Device):
    steer: str | None = setting(None, "add ALPHA x a saved direction to the residual stream after layer LAYER "
                                      "(FILE:LAYER:ALPHA; directions from `bailbench probe`).", check=_steer)


@dataclass(frozen=True)
class VLLMOptions(LocalOptions, _TensorParallel, DtypeOptions):
    pass


@dataclass(frozen=True)
class APIOptions(Options):
    """Backends that call a server (openai, anthropic)."""

    base_url: str | None = setting(None, "server address (any OpenAI-compatible server).")
    concurrency: int | None = setting(None, "requests in flight [16 / 8].", check=at_least(1, 10**5))
    timeout: float | None = setting(None, "seconds per request before a retry.", check=above(0, 10**6))
    api_key_env: str | None = setting(None, "the environment variable holding the key of a --base-url server "
                                            "(OPENAI_API_KEY / ANTHROPIC_API_KEY go only to the provider's own "
                                            "endpoint).")
    batch: bool = setting(False, "send requests through the provider's batch API (half price, answers within "
                                 "hours; jobs kept in the run directory, so a killed run collects them instead "
                                 "of paying again).")


def options(cls: type[Options]) -> Callable[[F], F]:
    """Declare the options class of a backend factory: it is called with an instance of it."""
    def mark(factory: F) -> F:
        factory.options_class = cls  # type: ignore[attr-defined]
        return factory
    return mark


def options_class(factory: Any) -> type:
    """The options class a factory declared (`options`); the base `Options` if none."""
    return getattr(factory, "options_class", Options)


def class_problem(cls: Any) -> str | None:
    """What keeps a declared options class from being read, or None: it must be a dataclass
    subclass of `Options` whose type hints resolve (they make its flags)."""
    if not (isinstance(cls, type) and is_dataclass(cls) and issubclass(cls, Options)):
        return f"its options class {cls!r} is not a dataclass subclass of bailbench.backends.options.Options"
    try:
        typing.get_type_hints(cls)
    except Exception as exc:  # noqa: BLE001 - any failure to read the hints is the class's problem
        return f"the type hints of its options class {cls.__name__} cannot be read ({exc})"
    return None


def taken(cls: type) -> list[str]:
    """The options a backend of this class lists as taken (--n-ctx where it uses it)."""
    return [f.name for f in fields(cls) if f.name != ALWAYS or getattr(cls, "uses_n_ctx", False)]
