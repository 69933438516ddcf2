"""One declaration per bail method, read by every place that treats methods apart.

A method is a `MethodSpec` in a module of this package (its `METHODS` tuple), found on first
use; its wordings are the `bail_<kind>` section of paper_wordings.json, or a `bail_<kind>.json`
beside it for a method the paper has not. The runner, the sweep, simulate, Inspect, rates,
tables, figures and prices read these fields, so a new method needs no edit anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from ..chat.types import Chat, Message
from ..errors import UserError


@dataclass(frozen=True)
class Setting:
    """What a run gives a method's offer and reader: the model's name and the protocol's inputs."""

    model_name: str
    protocol: str = "default"
    authors_schema: bool = False  # the tool JSON the authors sent local models (`paper`)
    own_system: str | None = None  # a system prompt the authors set by hand (`paper`, Hermes 3 8B)
    tool_format: str = "generic"  # how calls written in the text are read (chat.toolcalls)


# (setting, the reply's text, the API's structured tool calls, ablation) -> verdict
Reader = Callable[[Setting, str, list[str], str], str]
# (setting, the context, ablation) -> the chat that offers the option
Offer = Callable[[Setting, tuple[Message, ...], str], Chat]


@dataclass(frozen=True)
class MethodSpec:
    """A bail method: either an option offered with the reply (`offer`), or a check asked
    after the model's plain rollout (`check`), never both."""

    name: str  # the CLI's, the store's and summary.json's name
    kind: str  # its wordings: the `bail_<kind>` section; methods of one kind share ablations
    label: str  # the figures' name
    short: str  # the console's and tables' column
    color: str  # the figures' colour
    rank: int  # its place among the methods: summary.json's, the tables' and the figures' order
    read: Reader  # the verdict of a sampled reply
    offer: Offer | None = None
    check: Callable[[str], str] | None = None  # ablation -> the check's text (the bail prompt)
    preflight: Callable[[str, str], None] | None = None  # (tool format, model spec): refuse unreadable replies
    truncated_calls: bool = False  # its reader can return truncated_call, which summaries count apart
    paper_name: str | None = None  # its name in the authors' ablation figure files (`reproduce`)

    def __post_init__(self) -> None:
        if (self.offer is None) == (self.check is None):
            raise ValueError(f"method {self.name!r} needs exactly one of offer and check")


_REGISTRY: dict[str, MethodSpec] = {}
_ordered: tuple[MethodSpec, ...] = ()  # read at every membership test: kept sorted
_found = False


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method (the package's own are found on first use); a taken name is refused."""
    _discover()
    return _add(spec)


def _add(spec: MethodSpec) -> MethodSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"method {spec.name!r} is registered already")
    _REGISTRY[spec.name] = spec
    _sort()
    return spec


def unregister(name: str) -> None:
    _discover()
    del _REGISTRY[name]
    _sort()


def _sort() -> None:
    global _ordered
    _ordered = tuple(sorted(_REGISTRY.values(), key=lambda s: s.rank))


def specs() -> tuple[MethodSpec, ...]:
    """Every bail method, in rank order."""
    _discover()
    return _ordered


def method_spec(name: str) -> MethodSpec:
    _discover()
    if name not in _REGISTRY:
        raise UserError(f"unknown bail method {name!r}: choose from {', '.join(s.name for s in specs())}")
    return _REGISTRY[name]


def _discover() -> None:
    """Import each module of this package once and keep the methods it declares."""
    global _found
    if _found:
        return
    _found = True
    package = __name__.rpartition(".")[0]
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        for s in getattr(importlib.import_module(f"{package}.{info.name}"), "METHODS", ()):
            _add(s)
