"""Provider-neutral conversation types that methods build and backends render."""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    role: str
    content: str

    def as_dict(self) -> dict:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Tool:
    """A function tool with no parameters (the bail tool)."""

    name: str
    description: str
    authors_schema: bool = False  # the `paper` protocol on local models: the dict the authors sent

    def openai_schema(self) -> dict:
        """The tool as chat templates and OpenAI's API see it. The authors gave local models
        `"parameters": {}` with `"required": []` beside it (prompts/bailTool.py getBailTool),
        which a template that prints tool JSON shows the model as it is."""
        function: dict[str, object] = {"name": self.name, "description": self.description}
        if self.authors_schema:
            function |= {"parameters": {}, "required": []}
        else:
            function["parameters"] = {"type": "object", "properties": {}, "required": []}
        return {"type": "function", "function": function}


@dataclass(frozen=True)
class Chat:
    """What one request shows the model.

    `system_addition` is text a method adds to the system prompt; where it goes depends
    on the chat template (default system prompt, no system role) and is decided when
    rendering. `assistant_prefix` forces the start of the reply (used to score the
    bail-prompt answer right after `<wellbeing>`).

    `system_rule` says how: `default` (DESIGN §1), or the authors' router.py (the `paper`
    protocol): `paper`, a new first system message `(their default + "\n" + text).strip()`, their
    default being the template's `else` literal as their AST finder reads it; `paper-own`, the
    text already begins with the system prompt they set by hand (Hermes 3 8B's), which stands in
    place of the template's default. A template with no system role gets the text before the
    first user message under every rule, as they did for Gemma 2.
    """

    messages: tuple[Message, ...]
    system_addition: str | None = None
    tools: tuple[Tool, ...] = field(default=())
    assistant_prefix: str = ""
    system_rule: str = "default"

    def as_dict(self) -> dict:
        return {
            "messages": [m.as_dict() for m in self.messages],
            "system_addition": self.system_addition,
            "tools": [t.openai_schema() for t in self.tools],
            "assistant_prefix": self.assistant_prefix,
        }
