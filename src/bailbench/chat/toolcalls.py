"""Read tool calls out of a reply, in the chat format the model was trained on.

Each parser returns the names of the functions called, in order: only each call's own
top-level name (a "name" inside a call's arguments is not a call). A bail is a call whose
name matches the bail tool (case-insensitive, surrounding space ignored, as the authors
compared; a longer name that contains it is another tool). Formats:

- `hermes`: Qwen2.5, Qwen3, Hermes, SmolLM3 and our generic in-prompt format:
  `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`; inside the same tags also
  Qwen3-Coder's `<function=name>...</function>` and GLM-4.5's `name\n<arg_key>..</arg_key>...`
- `llama3`: Llama 3.1-3.3 JSON, `{"name": ..., "parameters": {...}}`, optionally after
  `<|python_tag|>`, several separated by `;`; also `<function=name>{...}</function>`
- `mistral`: `[TOOL_CALLS] [{"name": ..., "arguments": {...}}]` and the newer
  `[TOOL_CALLS]name[ARGS]{...}`
- `glm4`: GLM-4-0414 writes the function name on the first line, arguments JSON after;
  its vLLM parser (the authors' choice) is `pythonic`, which is also accepted
- `pythonic`: `[name(), other(arg=1)]` (Llama 4, GLM-4 through vLLM)
"""

from __future__ import annotations

import ast
import json
import re

_HERMES = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_LLAMA_FUNCTION = re.compile(r"<function=([^>\s]+)>")
_MISTRAL_NEW = re.compile(r"\[TOOL_CALLS\]\s*([A-Za-z_][\w.\-]*)\s*\[ARGS\]")
_IDENTIFIER = re.compile(r"[A-Za-z_][\w.\-]*")


def _leading_values(text: str, separators: str = ",;") -> list:
    """The JSON values a text starts with, one after another (separated by whitespace or
    `separators`), up to the first thing that is not JSON. A value is never looked for
    inside another: a name nested in a call's arguments is not a call."""
    decoder = json.JSONDecoder()
    values, i = [], 0
    while True:
        while i < len(text) and (text[i].isspace() or text[i] in separators):
            i += 1
        if i >= len(text) or text[i] not in "{[":
            return values
        try:
            value, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return values
        values.append(value)


def _names_in(value) -> list[str]:
    """Names of the calls in a decoded call (or list of calls): only each call's own name."""
    if isinstance(value, list):
        return [n for v in value for n in _names_in(v)]
    if isinstance(value, dict):
        if isinstance(value.get("function"), dict):  # OpenAI-shaped {"type": "function", "function": {...}}
            return _names_in(value["function"])
        if isinstance(value.get("name"), str):
            return [value["name"]]
    return []


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]')


def _top_level_name(text: str) -> str | None:
    """The `"name": "..."` member at the top level of a JSON object that does not parse
    (a call cut off or malformed: the authors' vLLM parser fails there, but the model
    clearly named the function). Strings are skipped whole, so braces in them don't count."""
    tokens = [m.group() for m in _JSON_TOKEN.finditer(text)]
    depth = 0
    for i, tok in enumerate(tokens):
        if tok in "{[":
            depth += 1
        elif tok in "}]":
            depth -= 1
        elif (depth == 1 and tok == '"name"' and i >= 1 and tokens[i - 1] in "{,"
              and tokens[i + 1:i + 2] == [":"] and tokens[i + 2:i + 3] and tokens[i + 2].startswith('"')):
            try:
                return json.loads(tokens[i + 2])
            except json.JSONDecodeError:
                return None
    return None


def _tool_call_body(body: str) -> list[str]:
    """One `<tool_call>` body: JSON (Hermes, Qwen2.5/3), `<function=name>` XML (Qwen3-Coder),
    or the name on the first line followed by `<arg_key>` pairs (GLM-4.5)."""
    body = body.strip()
    if body[:1] in "{[":
        values = _leading_values(body)
        if values:
            return [n for v in values for n in _names_in(v)]
        name = _top_level_name(body)
        return [name] if name is not None else []
    m = re.match(r"<function=([^>\s]+)>", body)
    if m:
        return [m.group(1)]
    first = body.split("\n", 1)[0].split("<", 1)[0].strip()
    return [first] if _IDENTIFIER.fullmatch(first) else []


def parse_hermes(text: str) -> list[str]:
    return [n for body in _HERMES.findall(text) for n in _tool_call_body(body)]


def parse_llama3(text: str) -> list[str]:
    names = _LLAMA_FUNCTION.findall(text)
    if "<|python_tag|>" in text:
        body = text.split("<|python_tag|>", 1)[1]
    else:
        body = text.strip()
    if "<|python_tag|>" in text or body.startswith("{"):
        for value in _leading_values(body):
            if isinstance(value, dict) and ("parameters" in value or "arguments" in value):
                names.extend(_names_in(value))
    return names


def parse_mistral(text: str) -> list[str]:
    if "[TOOL_CALLS]" not in text:
        return []
    names = _MISTRAL_NEW.findall(text)
    for part in text.split("[TOOL_CALLS]")[1:]:
        for value in _leading_values(part)[:1]:
            names.extend(_names_in(value))
    return names


def parse_pythonic(text: str) -> list[str]:
    stripped = text.strip()
    if stripped.startswith("<|python_start|>"):
        stripped = stripped.removeprefix("<|python_start|>").removesuffix("<|python_end|>").strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return []
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError:
        return []
    if not isinstance(tree.body, ast.List):
        return []
    names = []
    for call in tree.body.elts:
        if not isinstance(call, ast.Call):
            return []
        func = call.func
        names.append(func.id if isinstance(func, ast.Name) else ast.unparse(func))
    return names


def parse_glm4(text: str) -> list[str]:
    pythonic = parse_pythonic(text)
    if pythonic:
        return pythonic
    first, _, rest = text.strip().partition("\n")
    first = first.strip()
    if _IDENTIFIER.fullmatch(first) and (rest.strip().startswith("{") or rest.strip() == ""):
        if not rest.strip() or _leading_values(rest.strip())[:1]:
            return [first]
    return []


_PARSERS = {
    "hermes": parse_hermes,
    "llama3": parse_llama3,
    "mistral": parse_mistral,
    "glm4": parse_glm4,
    "pythonic": parse_pythonic,
}


def parse_tool_calls(text: str, fmt: str) -> list[str]:
    return _PARSERS[fmt](text)


def called(names: list[str], tool_name: str) -> bool:
    target = tool_name.lower().strip()
    return any(n.lower().strip() == target for n in names)


def format_for_template(source: str | None) -> str:
    """Which parser reads a model's calls, judged from its chat template."""
    if not source:
        return "hermes"
    if "<tool_call>" in source:
        return "hermes"
    if "[TOOL_CALLS]" in source:
        return "mistral"
    if "<|python_tag|>" in source or "ipython" in source:
        return "llama3"
    if "<|python_start|>" in source:
        return "pythonic"
    if "<|observation|>" in source:
        return "glm4"
    return "hermes"  # templates without tools get the generic in-prompt format
