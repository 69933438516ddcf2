"""The paper's ways of offering a model the option to leave, and how each bail is read.

`rollout` is the plain reply with no bail option: the context for the bail prompt and the
input to refusal classification.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..enums import StrEnum
from ..errors import UserError


class Method(StrEnum):
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


TOOL, STRING, BAIL_FIRST, CONTINUE_FIRST, ROLLOUT = Method
BAIL_METHODS = (TOOL, STRING, BAIL_FIRST, CONTINUE_FIRST)
ALL_METHODS = BAIL_METHODS + (ROLLOUT,)
PROMPT_METHODS = (BAIL_FIRST, CONTINUE_FIRST)
BAIL, CONTINUE, UNKNOWN, TRUNCATED_CALL = Verdict

# Which section of paper_wordings.json holds each method's ablations.
KIND: dict[str, str] = {TOOL: "tool", STRING: "string", BAIL_FIRST: "prompt", CONTINUE_FIRST: "prompt"}


def resolve_methods(spec: str) -> list[Method]:
    """Parse a comma-separated method list; `all` is the four bail methods."""
    out: list[Method] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        names = BAIL_METHODS if part == "all" else (part,)
        for name in names:
            if name not in ALL_METHODS:
                raise UserError(f"unknown method {name!r}: choose from {', '.join(ALL_METHODS)} or all")
            if name not in out:
                out.append(Method(name))
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
