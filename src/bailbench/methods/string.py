"""The bail string (paper A.2): a keyword the system prompt invites the model to output."""

from __future__ import annotations

from ..chat.types import Chat, Message
from . import BAIL, CONTINUE
from .thinking import strip_thinking
from .wordings import string_wording


def string_chat(context: tuple[Message, ...], ablation: str, model_name: str) -> Chat:
    return Chat(messages=context, system_addition=string_wording(ablation, model_name).system_text)


def read_string(reply: str, ablation: str) -> str:
    """Bail when the keyword appears anywhere after thinking, in any case (compared in upper
    case, as the authors compare: `ſ` and `ı` upper-case to S and I)."""
    keyword = string_wording(ablation, "").keyword
    return BAIL if keyword.upper() in strip_thinking(reply).upper() else CONTINUE
