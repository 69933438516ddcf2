"""Render a `Chat` with the model's own Jinja chat template (as read from a GGUF or HF tokenizer).

Handles the three places a method's system text can go: an existing system message, the
template's own default system prompt (Qwen2.5 and SmolLM2 inject one when none is
given: we keep it and append our text after a newline), or, for templates without a
system role (Gemma 2), the start of the first user message followed by a blank line.
Templates without tool support get the tool in the system prompt in `GENERIC_TOOL_FORMAT`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .types import Chat, Message, Tool

GENERIC_TOOL_FORMAT = (
    "# Tools\n\n"
    "You may call the following function. To call it, reply with\n"
    '<tool_call>{{"name": "<function name>", "arguments": {{}}}}</tool_call>\n\n'
    "<tools>\n{tools}\n</tools>"
)


def generic_tool_text(tools: tuple[Tool, ...]) -> str:
    """The documented system-prompt rendering of tools for templates that have none;
    calls in it are read by the Hermes parser."""
    return GENERIC_TOOL_FORMAT.format(
        tools="\n".join(json.dumps(t.openai_schema(), ensure_ascii=False) for t in tools)
    )


class TemplateError(Exception):
    pass


def _raise(message: str):
    raise TemplateError(message)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@dataclass(frozen=True)
class PlacedSystem:
    messages: list[dict]
    where: str  # "none" | "existing" | "default" | "new" | "first-user"


def place_system_text(
    messages: tuple[Message, ...],
    text: str | None,
    *,
    default_system: str | None,
    supports_system: bool,
) -> PlacedSystem:
    """Put a method's system text where DESIGN §1 says it goes (pure function)."""
    out = [m.as_dict() for m in messages]
    if not supports_system and out and out[0]["role"] == "system":
        # A conversation's own system message has nowhere to go but the first user turn.
        sys_msg = out.pop(0)["content"]
        text = sys_msg if text is None else sys_msg + "\n" + text
    if text is None:
        return PlacedSystem(out, "none")
    if not supports_system:
        for m in out:
            if m["role"] == "user":
                m["content"] = text + "\n\n" + m["content"]
                return PlacedSystem(out, "first-user")
        raise TemplateError("a template without a system role needs a user message to carry the system text")
    if out and out[0]["role"] == "system":
        out[0]["content"] = out[0]["content"] + "\n" + text
        return PlacedSystem(out, "existing")
    if default_system:
        return PlacedSystem([{"role": "system", "content": default_system + "\n" + text}] + out, "default")
    return PlacedSystem([{"role": "system", "content": text}] + out, "new")


class ChatTemplate:
    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = ""):
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        self._template = env.from_string(source)

    def _render(self, messages: list[dict], *, tools: list[dict] | None, add_generation_prompt: bool) -> str:
        kwargs = dict(messages=messages, add_generation_prompt=add_generation_prompt,
                      bos_token=self.bos_token, eos_token=self.eos_token)
        if tools:
            kwargs["tools"] = tools
        try:
            return self._template.render(**kwargs)
        except (jinja2.TemplateError, TemplateError) as exc:
            raise TemplateError(str(exc)) from exc

    @cached_property
    def supports_tools(self) -> bool:
        return "tools" in self.source

    @cached_property
    def supports_system(self) -> bool:
        try:
            probe = self._render([{"role": "system", "content": "\x01S"}, {"role": "user", "content": "\x01U"}],
                                 tools=None, add_generation_prompt=True)
        except TemplateError:
            return False
        return "\x01S" in probe

    @cached_property
    def default_system(self) -> str | None:
        """The system prompt the template injects when the conversation has none.

        Found by rendering with and without a sentinel system message: the default is
        whatever stands where the sentinel stood.
        """
        if not self.supports_system:
            return None
        user = {"role": "user", "content": "\x01U"}
        with_sys = self._render([{"role": "system", "content": "\x01S"}, user], tools=None, add_generation_prompt=False)
        without = self._render([user], tools=None, add_generation_prompt=False)
        pre, _, post = with_sys.partition("\x01S")
        if without.startswith(pre) and without.endswith(post) and len(without) > len(pre) + len(post):
            return without[len(pre): len(without) - len(post)]
        return None

    def render(self, chat: Chat, *, add_generation_prompt: bool = True) -> str:
        text = chat.system_addition
        tools = None
        if chat.tools:
            if self.supports_tools:
                tools = [t.openai_schema() for t in chat.tools]
            else:
                tool_text = generic_tool_text(chat.tools)
                text = tool_text if text is None else text + "\n\n" + tool_text
        placed = place_system_text(chat.messages, text, default_system=self.default_system,
                                   supports_system=self.supports_system)
        rendered = self._render(placed.messages, tools=tools, add_generation_prompt=add_generation_prompt)
        return rendered + chat.assistant_prefix
