"""Model specs (`provider:name`) to backends. Heavy libraries are imported only when used.

A backend is a factory `(name, *, spec, options) -> Backend` registered under the
`bailbench.backends` entry-point group, declaring its options class (`@options(GGUFOptions)`,
options.py); a package that registers one there adds a provider (`bailbench run --model
myprovider:NAME`) and the options its class declares, as the built-in ones below do.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, make_dataclass, replace
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from ..errors import UserError
from ..settings import KEY, declared
from .base import Backend
from .embedded import EMBEDDED, embedded_gguf, weights
from .options import (
    ALWAYS,
    APIOptions,
    GGUFOptions,
    HFOptions,
    Options,
    VLLMOptions,
    class_problem,
    options,
    options_class,
    taken,
)

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


@dataclass(frozen=True)
class BackendOptions(APIOptions, VLLMOptions, HFOptions, GGUFOptions):
    """The options of every built-in backend (options.py declares them, each in its backend's
    class): what callers build by hand (`BackendOptions(n_ctx=4096)`). The CLI, the library and
    experiment files take those of every registered backend, `backend_options()`."""


MIN_GGUF_CTX = 64


def _flags(names) -> str:
    return ", ".join("--" + k.replace("_", "-") for k in names)


def provider_options() -> dict[str, type]:
    """The options class of each registered backend that imports (one that does not is left
    out here; `load_backend` says why it failed): bailbench's own in the order this file
    defines them (as the flags' help names them: "openai, anthropic"), then other packages'."""
    factories = {}
    for provider, ep in providers().items():
        try:
            factories[provider] = ep.load()
        except Exception:  # noqa: BLE001 - another package's broken backend must not break the CLI
            continue

    def order(item: tuple[str, object]) -> tuple[bool, int]:
        own = getattr(item[1], "__module__", None) == __name__
        return not own, getattr(getattr(item[1], "__code__", None), "co_firstlineno", 0) if own else 0

    return {provider: options_class(f) for provider, f in sorted(factories.items(), key=order)
            if class_problem(options_class(f)) is None}  # a bad class: `load_backend` says what is wrong


def union_of(classes: Mapping[str, type]) -> type[BackendOptions]:
    """One options class with the fields of BackendOptions and of every class given (by
    provider), each flag's help starting with the providers that take it. An option name that
    two of them declare differently (not one field inherited) is an error."""
    owners: dict[str, tuple[str, Field]] = {}
    for provider, cls in classes.items():
        for name, (f, _) in declared(cls).items():
            first, field_ = owners.setdefault(name, (provider, f))
            if field_ is not f:
                raise UserError(f"the {first} and {provider} backends both declare the option {name} "
                                f"(--{name.replace('_', '-')}), differently: one should inherit it or rename it")
    for name, (f, _) in declared(BackendOptions).items():
        if name in owners and owners[name][1] is not f:
            raise UserError(f"the {owners[name][0]} backend declares the option {name} "
                            f"(--{name.replace('_', '-')}), which bailbench's own backends declare differently")
    extras = [c for c in dict.fromkeys(classes.values()) if not issubclass(BackendOptions, c)]
    extras = [c for c in extras if not any(o is not c and issubclass(o, c) for o in extras)]
    bases = (BackendOptions, *extras)
    merged = make_dataclass("RegisteredBackendOptions", [], bases=bases, frozen=True)
    hints = typing.get_type_hints(merged)
    redeclared = []
    for name, (f, spec) in declared(merged).items():
        takers = [p for p, cls in classes.items() if name in declared(cls)]
        every = name == ALWAYS or len(takers) == len(classes)
        meta = {KEY: spec if every or not takers else replace(spec, help=f"{', '.join(takers)}: {spec.help}")}
        kept = field(default=f.default, metadata=meta) if f.default_factory is MISSING else \
            field(default_factory=f.default_factory, metadata=meta)
        redeclared.append((name, hints[name], kept))
    union = make_dataclass("RegisteredBackendOptions", redeclared, bases=bases, frozen=True,
                           namespace={"__reduce__": _reduce})
    union.__module__ = __name__
    return typing.cast("type[BackendOptions]", union)


@cache
def backend_options() -> type[BackendOptions]:
    """The options of every registered backend, bailbench's and other packages' (their own
    classes as further bases): the CLI's backend flags, the library's backend keywords and the
    experiment files' option keys. A value of it is a BackendOptions."""
    return union_of(provider_options())


def _registered(values: dict) -> BackendOptions:
    return backend_options()(**values)


def _reduce(self: BackendOptions) -> tuple:  # pickled by value: the class is made at run time
    return _registered, ({f.name: getattr(self, f.name) for f in fields(self)},)


def load_backend(spec: str, options: BackendOptions | None = None) -> Backend:
    """The backend of a spec, its factory called with its own options class holding the values
    given (a BackendOptions or `backend_options()`); a flag its class does not declare is an error."""
    o = options or BackendOptions()
    provider, name = split_spec(spec)
    try:
        factory = providers()[provider].load()
    except ImportError as exc:
        raise UserError(f"the {provider} backend could not be imported ({exc})") from None
    cls = options_class(factory)
    if (problem := class_problem(cls)) is not None:
        raise UserError(f"the {provider} backend cannot be used: {problem}")
    own = {f.name for f in fields(cls)}
    stray = sorted(set(o.given()) - own - {ALWAYS})
    if stray:
        raise UserError(f"{_flags(stray)} does not apply to {provider} models (they take: "
                        f"{_flags(taken(cls)) or 'none of the backend flags'})")
    return factory(name, spec=spec, options=cls(**{k: getattr(o, k) for k in own if hasattr(o, k)}))


# -- the built-in backends (registered in pyproject.toml under `bailbench.backends`) ----------


@options(GGUFOptions)
def gguf(name: str, *, spec: str, options: GGUFOptions) -> Backend:
    from .llamacpp import LlamaCppBackend

    if options.n_ctx < MIN_GGUF_CTX:  # llama.cpp aborts below: the backend reserves 64 sequence ids
        raise UserError(f"--n-ctx {options.n_ctx} is below {MIN_GGUF_CTX}, the least context the llama.cpp backend "
                        "runs with; give a larger --n-ctx")
    return LlamaCppBackend(Path(name).expanduser(), spec=spec, n_ctx=options.n_ctx, n_gpu_layers=options.gpu_layers,
                           batch_size=options.batch_size, tool_format=options.tool_format)


@options(HFOptions)
def hf(name: str, *, spec: str, options: HFOptions) -> Backend:
    from .hf import HFBackend

    return HFBackend(weights(name), spec=spec, n_ctx=options.n_ctx, device=options.device, dtype=options.dtype,
                     batch_size=options.batch_size, tool_format=options.tool_format, steer=options.steer)


@options(VLLMOptions)
def vllm(name: str, *, spec: str, options: VLLMOptions) -> Backend:
    from .vllm_offline import VLLMBackend

    return VLLMBackend(name, spec=spec, n_ctx=options.n_ctx, tensor_parallel=options.tensor_parallel,
                       dtype=options.dtype, batch_size=options.batch_size, tool_format=options.tool_format)


def _api(options: APIOptions) -> dict:
    return {k: getattr(options, k) for k in ("base_url", "concurrency", "timeout", "api_key_env", "batch")
            if getattr(options, k) is not None}


@options(APIOptions)
def openai(name: str, *, spec: str, options: APIOptions) -> Backend:
    from .openai_api import OpenAIBackend

    return OpenAIBackend(name, spec=spec, **_api(options))


@options(APIOptions)
def anthropic(name: str, *, spec: str, options: APIOptions) -> Backend:
    from .anthropic_api import AnthropicBackend

    return AnthropicBackend(name, spec=spec, **_api(options))


@options(Options)
def mock(name: str, *, spec: str, options: Options) -> Backend:
    from .mock import MockBackend

    return MockBackend(name, spec=spec)
