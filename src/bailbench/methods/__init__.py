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
