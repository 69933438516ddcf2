"""The authors' tool-call readers, for the `paper` protocol (BailStudy at fa56959 as it ran).

`bailstudy/prompts/bailTool.py` `calledBailTool`: open models' replies go, raw (thinking
kept), to vLLM's `hermes` parser (Qwen, Hermes 3) or `llama3_json` parser (Llama 3.1);
GLM-4 and GLM-Z1 get a substring rule; models with no parser (API models, Gemma 2) count
`{"name": "TOOL"` in the reply after `removeThinking`. A parser's exception reads as no
call. The vLLM parsers are re-implemented as they were in mid-2025 (`extract_tool_calls`).
"""

from __future__ import annotations

import json
import re

from ..methods.thinking import paper_strip_thinking

_HERMES = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)
_LLAMA = re.compile(r"{[^{}]*(?:{[^{}]*}[^{}]*)*}(?:\s*;\s*{[^{}]*(?:{[^{}]*}[^{}]*)*})*", re.DOTALL)


def _matches(names: list, tool: str) -> bool:
    """The authors' comparison, `tool.function.name.lower().strip() == toolName`; a name that
    is not a string fails vLLM's `FunctionCall` and so the whole reply."""
    return all(isinstance(n, str) for n in names) and any(n.lower().strip() == tool for n in names)


def vllm_hermes(text: str, tool: str) -> bool:
    if "<tool_call>" not in text:
        return False
    names = []
    try:
        for a, b in _HERMES.findall(text):
            obj = json.loads(a or b)
            names.append(obj["name"])
            json.dumps(obj["arguments"])  # a call without arguments raises, as in vLLM
    except (ValueError, KeyError, TypeError):
        return False
    return _matches(names, tool)


def vllm_llama3_json(text: str, tool: str) -> bool:
    if "<|python_tag|>" not in text and "{" not in text:
        return False
    m = _LLAMA.search(text)
    if not m:
        return False
    names = []
    try:
        for part in (p.strip() for p in m.group(0).split(";")):
            if part:
                obj = json.loads(part)
                names.append(obj["name"])
                json.dumps(obj["arguments"] if "arguments" in obj else obj["parameters"])  # raises as vLLM's does
    except (ValueError, KeyError, TypeError):
        return False
    return _matches(names, tool)


def glm_substring(text: str, tool: str) -> bool:
    """"custom handling for GLM's weirdness": either string anywhere in the raw reply."""
    return ("FUNCTION\n{" + tool + ": null}") in text or (tool + "\n{") in text


def no_parser(text: str, tool: str) -> bool:
    return ('{"name": "' + tool + '"') in paper_strip_thinking(text)


READERS = {"hermes": vllm_hermes, "llama3": vllm_llama3_json, "glm4": glm_substring, "generic": no_parser}
