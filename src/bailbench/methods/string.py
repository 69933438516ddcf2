"""The bail string (paper A.2): a keyword the system prompt invites the model to output."""

from __future__ import annotations

from ..chat.types import Chat, Message
from . import BAIL, CONTINUE
from .thinking import strip_thinking
from .wordings import string_wording


def string_chat(context: tuple[Message, ...], ablation: str, model_name: str, system_prompt: str | None = None) -> Chat:
    """`system_prompt`: a system prompt of the model's own that goes first, then a newline and
    the text (the `paper` protocol's Hermes 3 8B prompt, methods/protocol.py)."""
    text = string_wording(ablation, model_name).system_text
    return Chat(messages=context, system_addition=text if system_prompt is None else f"{system_prompt}\n{text}".strip())


def read_string(reply: str, ablation: str, protocol: str = "default") -> str:
    """Bail when the keyword appears anywhere after thinking, in any case (compared in upper
    case, as the authors compare: `ſ` and `ı` upper-case to S and I)."""
    keyword = string_wording(ablation, "").keyword
    return BAIL if keyword.upper() in strip_thinking(reply, protocol=protocol).upper() else CONTINUE
