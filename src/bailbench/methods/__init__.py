"""The paper's ways of offering a model the option to leave, and how each bail is read.

`rollout` is the plain reply with no bail option: the context for the bail prompt and the
input to refusal classification.
"""

from __future__ import annotations

from ..errors import UserError

TOOL, STRING, BAIL_FIRST, CONTINUE_FIRST, ROLLOUT = (
    "tool", "string", "prompt-bail-first", "prompt-continue-first", "rollout")
BAIL_METHODS = (TOOL, STRING, BAIL_FIRST, CONTINUE_FIRST)
ALL_METHODS = BAIL_METHODS + (ROLLOUT,)
PROMPT_METHODS = (BAIL_FIRST, CONTINUE_FIRST)

# Verdicts. `unknown` (the bail prompt answered with neither symbol) is reported, never dropped.
BAIL, CONTINUE, UNKNOWN = "bail", "continue", "unknown"

# Which section of paper_wordings.json holds each method's ablations.
KIND = {TOOL: "tool", STRING: "string", BAIL_FIRST: "prompt", CONTINUE_FIRST: "prompt"}


def resolve_methods(spec: str) -> list[str]:
    """Parse a comma-separated method list; `all` is the four bail methods."""
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


def check_ablation(methods: list[str], ablation: str) -> None:
    """Every chosen bail method must have this ablation (the rollout has none)."""
    from .wordings import ablations

    for m in methods:
        if m != ROLLOUT and ablation not in ablations(KIND[m]):
            having = [x for x in BAIL_METHODS if ablation in ablations(KIND[x])]
            hint = f"it exists for {', '.join(having)}" if having else "see `bailbench prompts --list-ablations`"
            raise UserError(f"ablation {ablation!r} does not exist for method {m} ({hint}); "
                            f"choose --methods accordingly or another ablation")
