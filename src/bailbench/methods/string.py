"""The bail string (paper A.2): a keyword the system prompt invites the model to output."""

from __future__ import annotations

from ..chat.types import Chat, Message
from . import BAIL, CONTINUE, STRING
from .registry import MethodSpec, Setting
from .thinking import DEFAULT, PAPER, strip_thinking
from .wordings import string_wording


def string_chat(context: tuple[Message, ...], ablation: str, model_name: str, system_prompt: str | None = None,
                protocol: str = DEFAULT) -> Chat:
    """The Baseline (or ablation) text for the system prompt, placed when rendering.

    `protocol="paper"` places it by the authors' rule (router.py rawTokenize / getSystemPrompt,
    `Chat.system_rule`). `system_prompt`: a system prompt the authors set by hand (Hermes 3 8B's,
    methods/protocol.py), which only the `paper` protocol has: it goes first, then a newline and
    the text, in place of the template's own default."""
    if protocol not in (DEFAULT, PAPER):
        raise ValueError(f"unknown protocol {protocol!r}")
    text = string_wording(ablation, model_name).system_text
    if system_prompt is not None:
        return Chat(messages=context, system_addition=f"{system_prompt}\n{text}".strip(), system_rule="paper-own")
    return Chat(messages=context, system_addition=text, system_rule=protocol)


def read_string(reply: str, ablation: str, protocol: str = "default") -> str:
    """Bail when the keyword appears anywhere after thinking, in any case (compared in upper
    case, as the authors compare: `ſ` and `ı` upper-case to S and I)."""
    keyword = string_wording(ablation, "").keyword
    return BAIL if keyword.upper() in strip_thinking(reply, protocol=protocol).upper() else CONTINUE


def _offer(s: Setting, context: tuple[Message, ...], ablation: str) -> Chat:
    return string_chat(context, ablation, s.model_name, s.own_system, protocol=s.protocol)


def _read(s: Setting, text: str, api_calls: list[str], ablation: str) -> str:
    return read_string(text, ablation, s.protocol)


METHODS = (MethodSpec(name=STRING, kind="string", label="Bail String", short="string", color="#DD8452", rank=20,
                      read=_read, offer=_offer, paper_name="bail_str"),)
