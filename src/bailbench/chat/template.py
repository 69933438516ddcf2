"""Render a `Chat` with the model's own Jinja chat template (as read from a GGUF or HF tokenizer).

Handles the three places a method's system text can go: an existing system message, the
template's own default system prompt (Qwen2.5 and SmolLM2 inject one when none is
given: we keep it and append our text after a newline), or, for templates without a
system role (Gemma 2), the start of the first user message followed by a blank line.
Templates without tool support get the tool in the system prompt in `GENERIC_TOOL_FORMAT`.
A tokenizer's `tool_use` template renders the chats that carry tools (transformers' rule).

The `paper` protocol renders as the authors' pipeline did (BailStudy fa56959, router.py
rawTokenize): the system text in a new first system message after the default their AST
finder reads from the template (`authors_default_system`), and their tool JSON passed to the
template as it is, shown or not (a template that shows no tools showed the model none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .reasoning import ALWAYS_REASONING, OPEN, leaves_open
from .tooldetect import GENERIC, classify
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


def _constants(node: nodes.Node) -> str:
    """Every string constant under a node, in the order router.py `constant_text` walks them."""
    if isinstance(node, nodes.Const):
        if not isinstance(node.value, str):
            raise TypeError(f"a {type(node.value).__name__} constant where the authors' finder adds strings")
        return node.value
    if isinstance(node, nodes.Output):
        return "".join(_constants(child) for child in node.nodes)
    out: list[str] = []
    for attr in ("body", "else_", "elif_", "nodes", "test", "expr", "left", "right", "node"):
        child = getattr(node, attr, None)
        if child is not None:
            out.extend(_constants(c) for c in (child if isinstance(child, list) else [child]))
    return "".join(out)


def _is_system_test(test: nodes.Node) -> bool:
    return (isinstance(test, nodes.Compare) and len(test.ops) == 1 and test.ops[0].op == "eq"
            and isinstance(test.ops[0].expr, nodes.Const) and test.ops[0].expr.value == "system")


def authors_default_system(source: str) -> str | None:
    """The default system prompt as the authors' code read it from a template (router.py
    getSystemPrompt, `DefaultSystemPromptFinder`): in a plain jinja2 `Environment`, the first
    `{% if X == 'system' %}` (source order, outer before inner) whose `else` branch holds
    non-blank constants gives them all, concatenated and stripped; "" when none does (Llama 3,
    Qwen3, GLM, and every template whose default sits in a `!= 'system'` branch). None where
    their finder could not read the template (it would have stopped their run)."""
    try:
        tree = jinja2.Environment().parse(source)
    except jinja2.TemplateError:
        return None
    try:
        for node in tree.find_all(nodes.If):
            if _is_system_test(node.test) and (found := "".join(_constants(n) for n in node.else_).strip()):
                return found
    except TypeError:
        return None
    return ""


class _Generation(Extension):
    """`{% generation %}...{% endgeneration %}` renders its body: transformers' tag marking the
    assistant's tokens for training masks (LFM2.5, Laguna), which its renderer accepts."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    @staticmethod
    def _body(caller):
        return caller()


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


class _Source:
    """One compiled template source and what probing it tells (in transformers' environment:
    the same globals and filters, `tools` and `documents` passed as None when absent)."""

    def __init__(self, source: str, bos_token: str, eos_token: str):
        self.source = source
        self.bos_token, self.eos_token = bos_token, eos_token
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=[loopcontrols, _Generation])
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        env.globals["dict"] = dict
        try:
            self._template = env.from_string(source)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"the chat template does not compile ({exc})") from exc

    def render(self, messages: list[dict], *, tools: list[dict] | None, add_generation_prompt: bool,
               **extra) -> str:
        try:
            return self._template.render(messages=messages, tools=tools, documents=None,
                                         add_generation_prompt=add_generation_prompt,
                                         bos_token=self.bos_token, eos_token=self.eos_token, **extra)
        except (jinja2.TemplateError, TemplateError) as exc:
            raise TemplateError(str(exc)) from exc
        except (TypeError, ValueError, AttributeError) as exc:  # a template's Python-level error on odd input
            raise TemplateError(f"{type(exc).__name__}: {exc}") from exc

    def _probe(self, messages: list[dict], **kw) -> str | None:
        try:
            return self.render(messages, **kw)
        except TemplateError:
            return None

    @cached_property
    def supports_tools(self) -> bool:
        """Whether rendering with a tool shows it to the model (a probe tool's name appears)."""
        got = self._probe([{"role": "user", "content": "\x01U"}], tools=[_probe_schema()], add_generation_prompt=True)
        return got is not None and _PROBE_TOOL in got

    @cached_property
    def call_example(self) -> str:
        """How the template writes an assistant's call to a tool (empty when it cannot)."""
        tools = [_probe_schema()]
        for arguments in ({"why": "x"}, '{"why": "x"}'):
            call = {"id": "abc123def", "type": "function", "function": {"name": _PROBE_TOOL, "arguments": arguments}}
            messages: list[dict] = [{"role": "user", "content": "\x01U"},
                        {"role": "assistant", "content": "", "tool_calls": [call]},
                        {"role": "tool", "tool_call_id": "abc123def", "name": _PROBE_TOOL,
                         "content": "bailbench_probe_result"}]
            if got := self._probe(messages, tools=tools, add_generation_prompt=False):
                return got
        return ""

    @cached_property
    def supports_system(self) -> bool:
        probe = self._probe([{"role": "system", "content": "\x01S"}, {"role": "user", "content": "\x01U"}],
                            tools=None, add_generation_prompt=True)
        return probe is not None and "\x01S" in probe

    @cached_property
    def default_system(self) -> str | None:
        """The system prompt the template injects when the conversation has none.

        Found by rendering with and without a sentinel system message: the default is
        whatever stands where the sentinel stood.
        """
        if not self.supports_system:
            return None
        user = {"role": "user", "content": "\x01U"}
        with_sys = self.render([{"role": "system", "content": "\x01S"}, user], tools=None, add_generation_prompt=False)
        without = self.render([user], tools=None, add_generation_prompt=False)
        pre, _, post = with_sys.partition("\x01S")
        if without.startswith(pre) and without.endswith(post) and len(without) > len(pre) + len(post):
            return without[len(pre): len(without) - len(post)]
        return None

    @cached_property
    def reasoning(self) -> str | None:
        """Why the reply would start in (or skip) the model's reasoning, or None: the
        generation prompt opens a block; the template's thinking mode opens one; thinking is
        on unless switched off; or the template writes reasoning and has no switch."""
        user = [{"role": "user", "content": "\x01U"}]
        plain = self._probe(user, tools=None, add_generation_prompt=True)
        if plain is None:
            return None
        on = self._probe(user, tools=None, add_generation_prompt=True, enable_thinking=True, thinking=True) or plain
        off = self._probe(user, tools=None, add_generation_prompt=True, enable_thinking=False, thinking=False) or plain
        if opened := leaves_open(plain.rpartition("\x01U")[2]):
            return f"its generation prompt opens a reasoning block ({opened.strip()})"
        if opened := leaves_open(on.rpartition("\x01U")[2]):
            return f"its thinking mode opens a reasoning block ({opened.strip()})"
        if off != plain:
            return "it reasons before answering unless thinking is switched off"
        if on == plain and (OPEN.search(self.source) or any(m in self.source for m in ALWAYS_REASONING)):
            return "the model writes its reasoning before the answer"
        return None


_PROBE_TOOL = "bailbench_probe_tool"


def _probe_schema() -> dict:
    return {"type": "function", "function": {"name": _PROBE_TOOL, "description": "probe",
                                             "parameters": {"type": "object", "properties": {}, "required": []}}}


class ChatTemplate:
    """A model's chat template, with its `tool_use` variant where the tokenizer has one:
    as transformers does, a chat that carries tools renders with `tool_use`."""

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "", tool_use: str | None = None):
        self.default = _Source(source, bos_token, eos_token)
        self.tool = _Source(tool_use, bos_token, eos_token) if tool_use else self.default
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token

    @classmethod
    def from_tokenizer(cls, value, **kw) -> ChatTemplate | None:
        """From a tokenizer's `chat_template`: one source, or named sources ({"default":
        ..., "tool_use": ...}, or the list form of tokenizer_config.json)."""
        if isinstance(value, list):
            value = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        if isinstance(value, dict):
            default = value.get("default") or value.get("tool_use")
            return cls(default, tool_use=value.get("tool_use"), **kw) if default else None
        return cls(value, **kw) if value else None

    @property
    def tool_source(self) -> str:
        """The source that renders chats with tools."""
        return self.tool.source

    @property
    def supports_tools(self) -> bool:
        return self.tool.supports_tools

    @property
    def supports_system(self) -> bool:
        return self.default.supports_system

    @property
    def default_system(self) -> str | None:
        return self.default.default_system

    @property
    def reasoning(self) -> str | None:
        return self.default.reasoning

    @cached_property
    def tool_format(self) -> str:
        """How the model's tool calls are read (`chat.toolcalls.FORMATS`, or `unknown`)."""
        return classify(self.tool.source + "\n" + self.tool.call_example, self.tool.supports_tools)

    def _render(self, messages: list[dict], *, tools: list[dict] | None, add_generation_prompt: bool) -> str:
        return (self.tool if tools is not None else self.default).render(
            messages, tools=tools, add_generation_prompt=add_generation_prompt)

    def render(self, chat: Chat, *, add_generation_prompt: bool = True) -> str:
        text = chat.system_addition
        tools = None
        t = self.tool if chat.tools else self.default
        if chat.tools:
            if t.supports_tools or any(tool.authors_schema for tool in chat.tools):
                tools = [tool.openai_schema() for tool in chat.tools]
            else:
                tool_text = generic_tool_text(chat.tools)
                text = tool_text if text is None else text + "\n\n" + tool_text
        if chat.system_rule in ("paper", "paper-own") and text is not None and t.supports_system:
            messages = [{"role": "system", "content": (self._authors_system(t, chat) + "\n" + text).strip()}]
            messages += [m.as_dict() for m in chat.messages]
        else:
            messages = place_system_text(chat.messages, text, default_system=t.default_system,
                                         supports_system=t.supports_system).messages
        rendered = t.render(messages, tools=tools, add_generation_prompt=add_generation_prompt)
        if chat.assistant_prefix and (opened := leaves_open(rendered[-400:])):
            raise TemplateError(f"the generation prompt leaves a reasoning block open ({opened}): a forced answer "
                                "would be scored inside the reasoning; read the bail prompt by sampling")
        return rendered + chat.assistant_prefix


    @staticmethod
    def _authors_system(t: _Source, chat: Chat) -> str:
        """router.py getSystemPrompt: none where the text holds the prompt they set by hand, else
        their finder's default (where their finder could not read the template, bailbench's
        default stands in)."""
        if chat.system_rule == "paper-own":
            return ""
        found = authors_default_system(t.source)
        return found if found is not None else (t.default_system or "")


def detect_tool_format(source: str | None) -> str:
    """The tool-call format name for a template source (`ChatTemplate.tool_format`; from its
    markers alone when it does not compile)."""
    if not source:
        return GENERIC
    try:
        return ChatTemplate(source).tool_format
    except TemplateError:
        return classify(source, shows_tools=True)
