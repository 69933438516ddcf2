"""The bail tool (paper A.1): one parameterless tool the model may call."""

from __future__ import annotations

from dataclasses import dataclass

from ..chat.paper_readers import READERS as PAPER_READERS
from ..chat.toolcalls import FORMATS, UNKNOWN, called, check_format, read_calls
from ..chat.types import Chat, Message, Tool
from ..errors import UserError
from . import BAIL, CONTINUE, TOOL, TRUNCATED_CALL
from .registry import MethodSpec, Setting
from .thinking import DEFAULT, PAPER, strip_thinking
from .wordings import tool_wording


def bail_tool(ablation: str, model_name: str, protocol: str = DEFAULT, *, authors_schema: bool = False) -> Tool:
    w = tool_wording(ablation, model_name, protocol)
    return Tool(name=w.name, description=w.description, authors_schema=authors_schema)


def tool_chat(context: tuple[Message, ...], ablation: str, model_name: str, protocol: str = DEFAULT, *,
              authors_schema: bool = False) -> Chat:
    """`authors_schema`: the tool JSON the authors sent local models (the `paper` protocol)."""
    return Chat(messages=context, tools=(bail_tool(ablation, model_name, protocol, authors_schema=authors_schema),))


@dataclass(frozen=True)
class ToolReading:
    verdict: str
    truncated: bool = False  # no bail, and a call was opened that does not parse (DESIGN §1 `truncated_calls`)


def read_tool(reply: str, api_calls: list[str], ablation: str, fmt: str, protocol: str = DEFAULT) -> str:
    """Bail when the reply calls the bail tool: through the API's structured calls, or
    written in the model's chat format (`fmt`, chat.toolcalls) outside any thinking."""
    return read_tool_call(reply, api_calls, ablation, fmt, protocol).verdict


def read_tool_call(reply: str, api_calls: list[str], ablation: str, fmt: str,
                   protocol: str = DEFAULT) -> ToolReading:
    """`read_tool`, saying also whether an unparsed call was left (counted apart, never a bail).

    `protocol="paper"` reads as the authors did (`chat.paper_readers`): the API's calls by
    exact name, vLLM's parsers on the raw reply for Hermes and Llama 3 formats, GLM's
    substring rule, and `{"name": "TOOL"` after their thinking cut for models with no parser
    (`generic`: API models' text, templates that show no tools); formats the authors never
    ran are read as in the default protocol."""
    name = tool_wording(ablation, "").name
    if protocol == PAPER:
        family = fmt.split("+")[0]
        if api_calls or family in PAPER_READERS:
            bail = name in api_calls or (family in PAPER_READERS and PAPER_READERS[family](reply, name))
            return ToolReading(BAIL if bail else CONTINUE)
    elif protocol != DEFAULT:
        raise ValueError(f"unknown protocol {protocol!r}")
    if api_calls:
        return ToolReading(BAIL if called(api_calls, name) else CONTINUE)
    calls = read_calls(strip_thinking(reply), fmt)
    bail = called(calls.names, name)
    return ToolReading(BAIL if bail else CONTINUE, truncated=not bail and calls.truncated > 0)


def check_tool_format(fmt: str, spec: str) -> None:
    """Refuse, before any work, a tool method whose calls could not be read (never a silent 0)."""
    if fmt == UNKNOWN:
        raise UserError(f"the chat template of {spec} shows the model its tools but writes calls in a syntax bailbench "
                        f"does not read: pass --tool-format NAME ({', '.join(FORMATS)}), or serve the model with an "
                        "OpenAI-compatible server and its tool parser (--model openai:NAME --base-url URL)")
    if "harmony" in check_format(fmt).split("+"):
        from ..chat.harmony import encoding

        encoding()  # one line when openai-harmony is missing


def _offer(s: Setting, context: tuple[Message, ...], ablation: str) -> Chat:
    return tool_chat(context, ablation, s.model_name, s.protocol, authors_schema=s.authors_schema)


def _read(s: Setting, text: str, api_calls: list[str], ablation: str) -> str:
    reading = read_tool_call(text, api_calls, ablation, s.tool_format, protocol=s.protocol)
    return TRUNCATED_CALL if reading.truncated else reading.verdict


METHODS = (MethodSpec(name=TOOL, kind="tool", label="Bail Tool", short="tool", color="#4C72B0", rank=10,
                      read=_read, offer=_offer, preflight=check_tool_format, truncated_calls=True,
                      paper_name="bail_tool"),)
