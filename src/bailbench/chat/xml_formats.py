"""Readers of the tool-call formats that name the function in a tag of their own (XML-like).

A call counts when its closing tag follows (an opened call without it was cut off).
Markers as the families' templates write them and as llama.cpp and vLLM read them.
"""

from __future__ import annotations

import re

from .calls import NONE, Calls, blocks, named_blocks, total
from .json_formats import function_tags


def _within(scope: str, scope_end: str, opening: str, closing: str):
    """Calls named by `opening` inside blocks opened by `scope`."""
    def read(text: str) -> Calls:
        return total(named_blocks(body, opening, closing) for _, body, _ in blocks(text, scope, scope_end))
    return read


# Seed-OSS: <seed:tool_call><function=name><parameter=k>v</parameter></function></seed:tool_call>
def read_seed_oss(text: str) -> Calls:
    scopes = blocks(text, r"<seed:tool_call>", r"</seed:tool_call>")
    return total(function_tags(body, closed) for _, body, closed in scopes)


# MiniMax M2: <minimax:tool_call><invoke name="f"><parameter name="k">v</parameter></invoke></minimax:tool_call>
read_minimax_m2 = _within(r"<minimax:tool_call>", r"</minimax:tool_call>", r'<invoke name="([^"]+)">', r"</invoke>")
# MiniMax M3: the same invoke tags, each behind its ]<]minimax[>[ delimiter
read_minimax_m3 = _within(r"\]<\]minimax\[>\[<tool_call>", r"\]<\]minimax\[>\[</tool_call>",
                          r'<invoke name="([^"]+)">', r"</invoke>")
# DeepSeek V3.2 and V4 (DSML): <｜DSML｜function_calls> (V4: tool_calls) <｜DSML｜invoke name="f"> ... </｜DSML｜invoke>
read_dsml = _within(r"<[｜|]DSML[｜|](?:function|tool)_calls>", r"</[｜|]DSML[｜|](?:function|tool)_calls>",
                    r'<[｜|]DSML[｜|]invoke\s+name="([^"]+)"\s*>', r"</[｜|]DSML[｜|]invoke>")
# Muse Glimmer (ATEM): <atem:function_calls><atem:invoke name="f"> ... </atem:invoke></atem:function_calls>
_MUSE = _within(r"<atem:function_calls>", r"</atem:function_calls>", r'<atem:invoke name="([^"]+)">', r"</atem:invoke>")


def read_muse(text: str) -> Calls:
    """Its reasoning is a message to itself (`to=self<|message|>...<|eom|>`), dropped first."""
    return _MUSE(re.sub(r"to=self<\|message\|>.*?(?:<\|eom\|>|$)", "", text, flags=re.DOTALL))


# Kimi K3: <|open|>call tool="f" index="1"<|sep|> ... <|close|>call<|sep|>
def read_kimi_k3(text: str) -> Calls:
    return named_blocks(text, r'<\|open\|>call tool="([^"]+)"[^<]*<\|sep\|>', r"<\|close\|>call<\|sep\|>")


# Gemma 4: <|tool_call>call:f{k:<|"|>v<|"|>}<tool_call|>
def read_gemma4(text: str) -> Calls:
    return named_blocks(text, r"<\|tool_call>\s*call:([^{\s<]+)", r"<tool_call\|>")


# Hunyuan 3: <tool_call:opensource>f<tool_sep:opensource> ... </tool_call:opensource>
def read_hy3(text: str) -> Calls:
    return named_blocks(text, r"<tool_call:opensource>\s*([^<\s]+)\s*<tool_sep:opensource>", r"</tool_call:opensource>")


# Solar Open: <|tool_call:begin|>id<|tool_call:name|>f<|tool_call:args|>{...}<|tool_call:end|>
def read_solar(text: str) -> Calls:
    """Its reasoning is an assistant message of its own (`<|think|>...<|end|>`), dropped first."""
    answer = re.sub(r"<\|think\|>.*?(?:<\|end\|>|$)", "", text, flags=re.DOTALL)
    return named_blocks(answer, r"<\|tool_call:name\|>\s*([^<\s]+)\s*<\|tool_call:args\|>", r"<\|tool_call:end\|>")


def read_minicpm(text: str) -> Calls:
    """MiniCPM 5: `<function name="f"><param name="k">v</param></function>`."""
    return function_tags(text) if "<function" in text else NONE
