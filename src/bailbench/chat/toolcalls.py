"""Read tool calls out of a reply, in the chat format the model was trained on.

Each parser returns the names of the functions called, in order. A bail is a call whose
name matches the bail tool (case-insensitive, surrounding space ignored, as the authors
compared). Formats:

- `hermes`: Qwen2.5, Qwen3, Hermes, SmolLM3 and our generic in-prompt format:
  `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`
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
_NAME_FIELD = re.compile(r'"name"\s*:\s*"([^"]*)"')
_LLAMA_FUNCTION = re.compile(r"<function=([^>\s]+)>")
_MISTRAL_NEW = re.compile(r"\[TOOL_CALLS\]\s*([A-Za-z_][\w.\-]*)\s*\[ARGS\]")


def _json_values(text: str) -> list:
    """Every JSON value that starts at an opening brace or bracket, left to right."""
    decoder = json.JSONDecoder()
    values, i = [], 0
    while i < len(text):
        if text[i] in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
            except json.JSONDecodeError:
                i += 1
                continue
            values.append(value)
            i = end
        else:
            i += 1
    return values


def _names_in(value) -> list[str]:
    if isinstance(value, list):
        return [n for v in value for n in _names_in(v)]
    if isinstance(value, dict):
        if isinstance(value.get("function"), dict):  # OpenAI-shaped {"type": "function", "function": {...}}
            return _names_in(value["function"])
        if isinstance(value.get("name"), str):
            return [value["name"]]
    return []


def parse_hermes(text: str) -> list[str]:
    names = []
    for body in _HERMES.findall(text):
        found = [n for v in _json_values(body) for n in _names_in(v)]
        if not found:  # malformed JSON: the authors' vLLM parser fails; we still read the name field
            found = _NAME_FIELD.findall(body)[:1]
        names.extend(found)
    return names


def parse_llama3(text: str) -> list[str]:
    names = _LLAMA_FUNCTION.findall(text)
    body = text.split("<|python_tag|>", 1)[1] if "<|python_tag|>" in text else text.strip()
    if "<|python_tag|>" in text or body.startswith("{"):
        for value in _json_values(body):
            if isinstance(value, dict) and ("parameters" in value or "arguments" in value):
                names.extend(_names_in(value))
    return names


def parse_mistral(text: str) -> list[str]:
    if "[TOOL_CALLS]" not in text:
        return []
    names = _MISTRAL_NEW.findall(text)
    for part in text.split("[TOOL_CALLS]")[1:]:
        for value in _json_values(part)[:1]:
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
    if re.fullmatch(r"[A-Za-z_][\w.\-]*", first) and (rest.strip().startswith("{") or rest.strip() == ""):
        if not rest.strip() or _json_values(rest.strip())[:1]:
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
