"""The bail tool (paper A.1): one parameterless tool the model may call."""

from __future__ import annotations

from ..chat.toolcalls import called, parse_tool_calls
from ..chat.types import Chat, Message, Tool
from . import BAIL, CONTINUE
from .thinking import strip_thinking
from .wordings import tool_wording


def bail_tool(ablation: str, model_name: str) -> Tool:
    w = tool_wording(ablation, model_name)
    return Tool(name=w.name, description=w.description)


def tool_chat(context: tuple[Message, ...], ablation: str, model_name: str) -> Chat:
    return Chat(messages=context, tools=(bail_tool(ablation, model_name),))


def read_tool(reply: str, api_calls: list[str], ablation: str, fmt: str) -> str:
    """Bail when the reply calls the bail tool: through the API's structured calls, or
    written in the model's chat format outside any thinking."""
    name = tool_wording(ablation, "").name
    names = api_calls or parse_tool_calls(strip_thinking(reply), fmt)
    return BAIL if called(names, name) else CONTINUE
