"""The paper's ways of offering a model the option to leave, and how each bail is read.

`rollout` is the plain reply with no bail option: the context for the bail prompt and the
input to refusal classification. The bail methods are declared in `registry`; the names
below are live views of it, so a method registered later is in them too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, overload

from ..enums import StrEnum
from ..errors import UserError

if TYPE_CHECKING:
    from .registry import MethodSpec

# The paper's four methods (declared in tool.py, string.py and prompt.py) and the plain rollout.
TOOL = "tool"
STRING = "string"
BAIL_FIRST = "prompt-bail-first"
CONTINUE_FIRST = "prompt-continue-first"
ROLLOUT = "rollout"


class Verdict(StrEnum):
    """`unknown` (the bail prompt answered with neither symbol) is reported, never dropped;
    `truncated_call` (a tool call that does not parse: cut off, or malformed) is no bail, and
    counted apart (DESIGN §1)."""

    BAIL = "bail"
    CONTINUE = "continue"
    UNKNOWN = "unknown"
    TRUNCATED_CALL = "truncated_call"


BAIL, CONTINUE, UNKNOWN, TRUNCATED_CALL = Verdict


class _Names(Sequence[str]):
    """The registered methods' names that `keep` keeps, in rank order, read at each use."""

    def __init__(self, keep: Callable[[MethodSpec], bool], tail: tuple[str, ...] = ()):
        self._keep, self._tail = keep, tail

    def _names(self) -> tuple[str, ...]:
        from .registry import specs

        return tuple(s.name for s in specs() if self._keep(s)) + self._tail

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[str, ...]: ...

    def __getitem__(self, i: int | slice) -> str | tuple[str, ...]:
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


class _Kinds(Mapping[str, str]):
    """Each bail method's wordings kind (the section of the wordings holding its ablations)."""

    def __getitem__(self, name: str) -> str:
        from .registry import method_spec

        return method_spec(name).kind

    def __iter__(self) -> Iterator[str]:
        return iter(BAIL_METHODS)

    def __len__(self) -> int:
        return len(BAIL_METHODS)


BAIL_METHODS: Sequence[str] = _Names(lambda s: True)
ALL_METHODS: Sequence[str] = _Names(lambda s: True, (ROLLOUT,))
PROMPT_METHODS: Sequence[str] = _Names(lambda s: s.check is not None)  # asked after the rollout
OFFERED_METHODS: Sequence[str] = _Names(lambda s: s.offer is not None)  # offered with the reply
KIND: Mapping[str, str] = _Kinds()


def resolve_methods(spec: str) -> list[str]:
    """Parse a comma-separated method list; `all` is every bail method."""
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        names = BAIL_METHODS if part == "all" else (part,)
        for name in names:
            if name not in ALL_METHODS:
                raise UserError(f"unknown method {name!r}: choose from {', '.join(ALL_METHODS)} or all")
            if name not in out:
                out.append(name)
    if not out:
        raise UserError("no method given: pass --methods with one or more of " + ", ".join(ALL_METHODS))
    return out


def needs_rollout(methods: Sequence[str], classified: bool) -> bool:
    """Whether a context's work starts with a plain rollout: asked for, followed by the bail
    prompt, or classified for refusals (the one rule for the runner and the sweep's plan)."""
    return ROLLOUT in methods or classified or any(m in PROMPT_METHODS for m in methods)


def check_ablation(methods: Sequence[str], ablation: str) -> None:
    """Every chosen bail method must have this ablation (the rollout has none)."""
    from .wordings import ablations

    for m in methods:
        if m != ROLLOUT and ablation not in ablations(KIND[m]):
            having = [x for x in BAIL_METHODS if ablation in ablations(KIND[x])]
            hint = f"it exists for {', '.join(having)}" if having else "see `bailbench prompts --list-ablations`"
            raise UserError(f"ablation {ablation!r} does not exist for method {m} ({hint}); "
                            f"choose --methods accordingly or another ablation")
