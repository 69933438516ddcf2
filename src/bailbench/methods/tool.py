"""The bail tool (paper A.1): one parameterless tool the model may call."""

from __future__ import annotations

from ..chat.toolcalls import called, parse_tool_calls
from ..chat.types import Chat, Message, Tool
from . import BAIL, CONTINUE
from .thinking import strip_thinking
from .wordings import tool_wording


def bail_tool(ablation: str, model_name: str, protocol: str = "default", *, authors_schema: bool = False) -> Tool:
    w = tool_wording(ablation, model_name, protocol)
    return Tool(name=w.name, description=w.description, authors_schema=authors_schema)


def tool_chat(context: tuple[Message, ...], ablation: str, model_name: str, protocol: str = "default", *,
              authors_schema: bool = False) -> Chat:
    """`authors_schema`: the tool JSON the authors sent local models (the `paper` protocol)."""
    return Chat(messages=context, tools=(bail_tool(ablation, model_name, protocol, authors_schema=authors_schema),))


def read_tool(reply: str, api_calls: list[str], ablation: str, fmt: str, protocol: str = "default") -> str:
    """Bail when the reply calls the bail tool: through the API's structured calls, or
    written in the model's chat format outside any thinking."""
    name = tool_wording(ablation, "").name
    names = api_calls or parse_tool_calls(strip_thinking(reply, protocol), fmt)
    return BAIL if called(names, name) else CONTINUE
