"""The paper's exact method texts (appendix A, H, I, J), loaded from the shipped JSON.

The JSON is a verbatim copy of the paper's wordings; `{model_name}` is replaced by plain
string substitution so no other character can change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..errors import UserError
from .protocol import MISPRINTED_AS, MISPRINTED_TOOL_ABLATIONS, PAPER

BASELINE = "Baseline"
ALL_ABLATIONS = "all"  # every ablation of each method, reported against Baseline


@lru_cache(maxsize=1)
def wordings() -> dict:
    return json.loads(resources.files(__package__).joinpath("paper_wordings.json").read_text("utf-8"))


def bail_symbol() -> str:
    return wordings()["bail_symbol"]


def continue_symbol() -> str:
    return wordings()["continue_symbol"]


def tag() -> str:
    return wordings()["tag"]


@lru_cache(maxsize=None)
def section(kind: str) -> dict:
    """A method kind's wordings by ablation: the paper's `bail_<kind>` section, or for a method
    the paper has not (methods/registry.py) its own `bail_<kind>.json` beside it."""
    name = f"bail_{kind}"
    if name in wordings():
        return wordings()[name]
    return json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text("utf-8"))


def ablations(kind: str) -> list[str]:
    """Ablation names for a method kind ('tool', 'string', 'prompt' ...), Baseline first."""
    return list(section(kind))


def _entry(kind: str, ablation: str) -> dict:
    entries = section(kind)
    if ablation not in entries:
        raise UserError(
            f"unknown ablation {ablation!r} for the {kind} method: choose from {', '.join(entries)}"
        )
    return entries[ablation]


def fill(text: str, model_name: str) -> str:
    return text.replace("{model_name}", model_name)


@dataclass(frozen=True)
class ToolWording:
    name: str
    description: str


@dataclass(frozen=True)
class StringWording:
    keyword: str
    system_text: str


def tool_wording(ablation: str, model_name: str, protocol: str = "default") -> ToolWording:
    """The tool's name and description; under the `paper` protocol, the seven ablations the
    authors' code gave TerminateThisInstance's description keep it (methods/protocol.py)."""
    e = _entry("tool", ablation)
    text = _entry("tool", MISPRINTED_AS) if protocol == PAPER and ablation in MISPRINTED_TOOL_ABLATIONS else e
    return ToolWording(name=e["tool_name"], description=fill(text["description"], model_name))


def string_wording(ablation: str, model_name: str) -> StringWording:
    e = _entry("string", ablation)
    return StringWording(keyword=e["keyword"], system_text=fill(e["system_prompt_addition"], model_name))


def prompt_wording(ablation: str, order: str) -> str:
    """The well-being check; `order` is 'bail_first' or 'continue_first'."""
    return _entry("prompt", ablation)[order]
