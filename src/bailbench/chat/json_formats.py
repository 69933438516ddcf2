"""Readers of the tool-call formats whose calls carry JSON: one function per family.

Each takes the reply with thinking already removed and returns `Calls`. The engines'
parsers are the reference (llama.cpp `common/chat.cpp`, vLLM `tool_parsers/`): the same
markers open a call, and a call whose JSON does not parse is no call (counted as cut off).
"""

from __future__ import annotations

import re

from .calls import (
    CUT,
    IDENTIFIER,
    NONE,
    PYTHONIC_START,
    Calls,
    blocks,
    call,
    json_at,
    json_calls,
    json_values,
    names_in,
    object_after,
    pythonic_names,
    total,
)

# -- Hermes / Qwen: <tool_call>{"name": ..., "arguments": {...}}</tool_call> -----------------

# llama.cpp's Hermes reader also takes a named JSON call in these wrappers or a code fence
_WRAPPED = re.compile(r'(?:```(?:json|xml)?\n\s*)?<(?:function_call|tools?|response|json|xml|JSON)>'
                      r'(?=\s*\{\s*"name"\s*:)'
                      r'|```(?:json|xml)?\n(?=\s*\{\s*"name"\s*:)')
_FUNCTION_TAG = re.compile(r'<function=([^>\s]+)>|<function name="([^"]+)">')
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|(?=<tool_call>)|$)", re.DOTALL)


def _tool_call_body(body: str, closed: bool) -> Calls:
    """One `<tool_call>` body: JSON (Hermes, Qwen2.5/3), `<function=name>` XML (Qwen3-Coder,
    Qwen3.5, Nemotron 3), or the name on the first line then `<arg_key>` pairs (GLM 4.5-4.7)."""
    s = body.strip()
    if s[:1] in "{[":
        return json_calls(s)
    if _FUNCTION_TAG.match(s):
        return function_tags(s, closed)
    first = s.split("\n", 1)[0].split("<", 1)[0].strip()
    if IDENTIFIER.fullmatch(first) and closed and s[len(first):].strip()[:9] in ("", "<arg_key>"):
        return call(first)
    return CUT


def function_tags(text: str, closed_outside: bool = False) -> Calls:
    """`<function=name>...</function>` or `<function name="name">...</function>` (Qwen3-Coder
    XML, Llama 3.1's custom format, Functionary 3.1, MiniCPM): a call when `</function>`
    closes it (or the block around it is closed), its body JSON or XML parameters."""
    out = NONE
    for m, body, closed in blocks(text, _FUNCTION_TAG.pattern, r"</function>"):
        inner = body.strip()
        if not (closed or closed_outside) or (inner.startswith("{") and not object_after(inner, 0)):
            out += CUT
        else:
            out += call(m.group(1) or m.group(2))
    return out


_FUNCTION_BLOCK = re.compile(r'(?:<function=[^>\s]+>|<function name="[^"]+">).*?(?:</function>|$)', re.DOTALL)


def _bare_json_calls(rest: str) -> Calls:
    """Named JSON calls outside `<tool_call>` that open the reply or follow one of llama.cpp's
    Hermes wrappers (`<tool>`, `<response>`, `<function_call>`, a code fence ...): a call, or one
    cut off when it does not parse. One after prose is no call: llama.cpp reads it, vLLM's `hermes`
    (the authors' parser) and ollama do not, and the majority is followed."""
    opened_at = {m.end() for m in _WRAPPED.finditer(rest)} | {0}  # where a call may open (and after one, `,`/`;`)
    out, end = NONE, 0
    for m in re.finditer(r'\{\s*"name"\s*:', rest):
        if m.start() < end or not any(e <= m.start() and not rest[e:m.start()].strip(" \t\r\n,;") for e in opened_at):
            continue  # inside a call already read (a name in its arguments), or after prose
        got = json_at(rest, m.start())
        if got is None:
            out += CUT
            continue
        value, end = got
        names = names_in(value)
        out += Calls(tuple(names)) if names else CUT
        opened_at.add(end)
    return out


def read_hermes(text: str) -> Calls:
    out = total(_tool_call_body(m.group(1), m.group(0).endswith("</tool_call>")) for m in _TOOL_CALL.finditer(text))
    rest = _TOOL_CALL.sub("\n", text)
    out += function_tags(rest)  # a Qwen3-Coder call whose opening <tool_call> the model skipped
    return out + _bare_json_calls(_FUNCTION_BLOCK.sub("\n", rest))


# -- Llama 3.x: {"name": ..., "parameters": {...}}, or after <|python_tag|> --------------------

_LLAMA_CALL = re.compile(r'\s*(?:\[\s*)?\{\s*(?:"type"\s*:\s*"function"\s*,\s*)?"name"\s*:')
_LLAMA_OBJECT = re.compile(r'\{\s*(?:"type"\s*:\s*"function"\s*,\s*)?"name"\s*:')
_PYTHON_TAG = "<|python_tag|>"


def _llama_objects(text: str) -> Calls:
    """Complete `{"name": ..., "parameters"|"arguments": ...}` objects later in the text (vLLM
    reads a call after text; a fragment there is prose, not a cut call)."""
    out, end = NONE, 0
    for m in _LLAMA_OBJECT.finditer(text):
        got = json_at(text, m.start()) if m.start() >= end else None  # never inside a call already read
        if got is None:
            continue
        v, end = got
        if isinstance(v, dict) and isinstance(v.get("name"), str) and ("parameters" in v or "arguments" in v):
            out += call(v["name"])
    return out


def _llama_head(head: str) -> Calls:
    """JSON calls opening the reply: each object needs a string "name" and "parameters" (or
    "arguments"), as vLLM's `llama3_json` and llama.cpp read them; otherwise the call opened is
    malformed (counted cut off), and complete calls later in the text still count (vLLM and
    SGLang read the valid call after a broken one)."""
    names: list[str] = []
    for value in json_values(head):
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("function"), dict):
                item = item["function"]
            if not (isinstance(item, dict) and isinstance(item.get("name"), str)
                    and ("parameters" in item or "arguments" in item)):
                return CUT + _llama_objects(head)
            names.append(item["name"])
    return Calls(tuple(names)) if names else CUT + _llama_objects(head)


def read_llama3(text: str) -> Calls:
    """JSON calls that open the reply (several joined by `;`) or stand complete later in it,
    anything after `<|python_tag|>` (JSON calls or a built-in tool's `name.call(...)`), and
    `<function=name>{...}</function>`."""
    out = function_tags(text)
    head, *tagged = text.split(_PYTHON_TAG)
    out += _llama_head(head) if _LLAMA_CALL.match(head) else _llama_objects(head)
    for body in tagged:
        s = body.strip()
        builtin = re.match(r"(\w+)\s*\.\s*call\(", s)
        if builtin:
            out += call(builtin.group(1)) if s.rstrip().endswith(")") else CUT
        else:
            out += _llama_head(s) if s[:1] in "{[" else call("python")  # raw code for the code interpreter
    return out


# -- Mistral: [TOOL_CALLS][{...}] (v3), [TOOL_CALLS]name[CALL_ID]id[ARGS]{...} (v11+) -----------

_MISTRAL_NAME = re.compile(r"\s*([A-Za-z_][\w.\-]*)\s*(?:\[CALL_ID\][^\[]*)?(?:\[ARGS\])?")


def read_mistral(text: str) -> Calls:
    out = NONE
    for body in text.split("[TOOL_CALLS]")[1:]:
        s = body.lstrip()
        if s[:1] in "[{":
            out += json_calls(s)
            continue
        m = _MISTRAL_NAME.match(s)
        if m and object_after(s, m.end()):
            out += call(m.group(1))
            continue
        listed = re.search(r"\[\s*\{", s)  # vLLM's fallback: a JSON list of calls after stray text
        got = json_calls(s[listed.start():]) if listed else CUT
        out += got if got.names else CUT
    return out


# -- pythonic: [name(), other(arg=1)] (Llama 4 after <|python_start|>, GLM-4 through vLLM) -------

def read_pythonic(text: str) -> Calls:
    if "<|python_start|>" in text:
        body = text.split("<|python_start|>", 1)[1].split("<|python_end|>", 1)[0]
        names = pythonic_names(body)
        return Calls(tuple(names)) if names else CUT
    if not PYTHONIC_START.match(text):
        return NONE
    names = pythonic_names(text)
    return Calls(tuple(names)) if names else CUT


def read_glm4(text: str) -> Calls:
    """GLM-4-0414 writes the function name on the first line and its JSON arguments after;
    vLLM reads it with the pythonic parser (the authors' first choice), also taken."""
    pythonic = read_pythonic(text)
    if pythonic != NONE:
        return pythonic
    first, _, rest = text.strip().partition("\n")
    first = first.strip()
    if not IDENTIFIER.fullmatch(first) or (rest.strip() and not rest.strip().startswith("{")):
        return NONE
    return call(first) if not rest.strip() or object_after(rest, 0) else CUT


# -- DeepSeek V3 / R1 (and distills) / V3.1 -------------------------------------------------------

_DS_BEGIN = r"<[｜|]tool[▁_ ]calls[▁_ ]begin[｜|]>|<[｜|]tool\\_calls\\_begin[｜|]>|<[｜|]tool▁calls[｜|]>"
_DS_END = r"<[｜|]tool[▁_ ]calls[▁_ ]end[｜|]>"
_DS_CALL_BEGIN = re.compile(r"<[｜|]tool[▁_ ]call[▁_ ]begin[｜|]>")
_DS_CALL_END = re.compile(r"<[｜|]tool[▁_ ]call[▁_ ]end[｜|]>")
_DS_SEP = re.compile(r"<[｜|]tool[▁_ ]sep[｜|]>")


def _deepseek_call(piece: str, closed: bool) -> Calls:
    sep = _DS_SEP.search(piece)
    if not sep or not closed:
        return CUT
    left, right = _DS_CALL_BEGIN.sub("", piece[: sep.start()]).strip(), piece[sep.end():]
    if left in ("", "function"):  # V3 / R1: function<｜tool▁sep｜>name\n```json\n{...}\n```
        name, _, args = right.partition("\n")
        args = args.strip().removeprefix("```json").removesuffix("```")
    else:  # V3.1: name<｜tool▁sep｜>{...}
        name, args = left, right
    return call(name.strip()) if IDENTIFIER.fullmatch(name.strip()) and object_after(args, 0) else CUT


def read_deepseek(text: str) -> Calls:
    out = NONE
    for _, body, _ in blocks(text, _DS_BEGIN, _DS_END):
        pieces = _DS_CALL_END.split(body)
        out += total(_deepseek_call(p, k < len(pieces) - 1) for k, p in enumerate(pieces) if p.strip())
    return out


# -- Kimi K2: <|tool_call_begin|>functions.name:0<|tool_call_argument_begin|>{...}<|tool_call_end|>

def read_kimi_k2(text: str) -> Calls:
    out = NONE
    for m, body, closed in blocks(text, r"<\|tool_call_begin\|>", r"<\|tool_call_end\|>"):
        ident, sep, args = body.partition("<|tool_call_argument_begin|>")
        name = ident.strip().split(":")[0].split(".")[-1]
        out += call(name) if closed and sep and IDENTIFIER.fullmatch(name) and object_after(args, 0) else CUT
    return out


# -- families that put a JSON list (or objects) after a marker of their own -------------------------

def _after(marker: str, closing: str | None = None, key: str = "name"):
    def read(text: str) -> Calls:
        return total(json_calls(body, key) for _, body, _ in blocks(text, marker, closing))
    return read


read_nemotron_v2 = _after(r"<TOOLCALL>", r"</TOOLCALL>")  # Nemotron Nano v2
read_tool_calls_tag = _after(r"<tool_calls>", r"</tool_calls>")  # Apriel 1.5/1.6, MiniMax M1
read_command_r7b = _after(r"<\|START_ACTION\|>", r"<\|END_ACTION\|>", key="tool_name")  # Command R7B, Command A
read_command_r_plus = _after(r"(?m)^\s*Action:\s*(?:```(?:json)?)?", r"```", key="tool_name")  # Command R / R+
read_firefunction = _after(r" ?functools(?=\s*\[)")  # FireFunction v2
read_gigachat = _after(r"function call<\|role_sep\|>|<\|function_call\|>")  # GigaChat 3, 3.1


def read_granite(text: str) -> Calls:
    """Granite 3.x: `<|tool_call|>[{...}]` (3.0), or `<tool_call>[{...}]` (3.1+, vLLM's `granite`
    reads both); what follows the marker must be a JSON list (vLLM: "not an array" is no call)."""
    out = NONE
    for _, body, _ in blocks(text, r"<\|tool_call\|>|<tool_call>", r"</tool_call>"):
        out += json_calls(body) if body.lstrip()[:1] == "[" else CUT
    return out


def read_apertus(text: str) -> Calls:
    """Apertus: `<|tools_prefix|>[{"name": {arguments}}]<|tools_suffix|>`, the name the key."""
    out = NONE
    for _, body, _ in blocks(text, r"<\|tools_prefix\|>", r"<\|tools_suffix\|>"):
        got = json_at(body)
        items = got[0] if got is not None else None
        if isinstance(items, list) and items and all(isinstance(v, dict) and len(v) == 1 for v in items):
            out += Calls(tuple(next(iter(v)) for v in items))
        else:
            out += CUT
    return out


def read_lfm2(text: str) -> Calls:
    """LFM2: `<|tool_call_start|>[name(arg="v")]<|tool_call_end|>`, or a JSON list inside."""
    out = NONE
    for _, body, closed in blocks(text, r"<\|tool_call_start\|>", r"<\|tool_call_end\|>"):
        s = body.strip()
        if re.fullmatch(r"\[\s*\]", s):
            continue  # an empty list: no call (vLLM's `lfm2`)
        if re.match(r"\[\s*\{", s):
            out += json_calls(s)
            continue
        names = pythonic_names(s) or (_loose_pythonic_names(s) if closed else None)
        out += Calls(tuple(names)) if names else CUT
    return out


_LOOSE_CALL = re.compile(r"\[\s*([A-Za-z_][\w.]*)\s*\(.*\)\s*\]", re.DOTALL)


def _loose_pythonic_names(s: str) -> list[str] | None:
    """A closed LFM2 block whose arguments are not valid Python (a raw newline or an unescaped
    quote inside a string, `month=07`): vLLM's `lfm2` recovers the call; its name is read here,
    and any further `), name(` at the top of the list."""
    m = _LOOSE_CALL.fullmatch(s)
    if not m:
        return None
    return [m.group(1)] + re.findall(r"\)\s*,\s*([A-Za-z_][\w.]*)\s*\(", s)


def read_functionary_v31(text: str) -> Calls:
    """Functionary 3.1 (Llama 3.1): `<function=name>{...}</function>`, raw code after `<|python_tag|>`."""
    return function_tags(text) + (call("python") if _PYTHON_TAG in text else NONE)


def read_functionary_v32(text: str) -> Calls:
    """Functionary 3.2: the generation prompt ends in `>>>`, so the reply starts with a
    recipient line (`all` for text), and later messages follow `>>>recipient\\n`."""
    out = NONE
    for k, part in enumerate(text.split(">>>")):
        recipient, _, content = part.partition("\n")
        recipient = recipient.strip()
        opens_json = content.lstrip().startswith("{")
        first_code = k == 0 and recipient == "python"  # llama.cpp: `python\n<code>` opening the reply is a call
        if recipient == "all" or not IDENTIFIER.fullmatch(recipient) or (k == 0 and not opens_json and not first_code):
            continue
        if recipient == "python" and not opens_json:
            out += call("python")
        else:
            out += call(recipient) if object_after(content, 0) else CUT
    return out
