"""Read tool calls out of a reply, in the chat format the model was trained on.

`FORMATS` names every format bailbench reads, each with the families that write it (the
README's table is this one); `read_calls(text, fmt)` applies one (or several joined by
`+`, as for a template that writes calls of its own but does not show tools, whose model
also sees the generic in-prompt format). A bail is a call whose name matches the bail tool
(case-insensitive, surrounding space ignored, as the authors compared; a longer name that
contains it is another tool). Thinking is removed before (`methods.thinking`).

`UNKNOWN` is the format of a template that shows the model its tools but writes calls in a
syntax none of these reads: the tool method refuses it rather than report 0 bails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import UserError
from . import json_formats as j
from . import xml_formats as x
from .calls import Calls, total
from .harmony import read_harmony
from .reasoning import BLOCKS
from .template import detect_tool_format
from .tooldetect import UNKNOWN


@dataclass(frozen=True)
class Format:
    read: Callable[[str], Calls]
    families: str
    syntax: str
    tokens: tuple[str, ...] = ()  # control tokens that open or delimit its calls (kept when decoding)


FORMATS: dict[str, Format] = {
    "hermes": Format(j.read_hermes, "Hermes 2 Pro / 3, Qwen2.5, Qwen3, QwQ, Granite 4, Bielik, MiMo, Reka",
                     '`<tool_call>{"name": ..., "arguments": ...}</tool_call>` (also llama.cpp\'s wrappers)',
                     ("<tool_call>", "</tool_call>")),
    "qwen3_coder": Format(j.read_hermes, "Qwen3-Coder, Qwen3.5, Nemotron 3 Nano, Step 3.5",
                          "`<tool_call><function=NAME><parameter=k>v</parameter></function></tool_call>`, "
                          "the opening `<tool_call>` optional", ("<tool_call>", "</tool_call>")),
    "glm45": Format(j.read_hermes, "GLM 4.5-4.7, Ling 3, Laguna, Spark 2.5",
                    "`<tool_call>NAME<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>`",
                    ("<tool_call>", "</tool_call>")),
    "generic": Format(j.read_hermes, "templates that show no tools (Gemma 2, Phi-3.5, SmolLM2/3, Hermes 3 default)",
                      "bailbench's in-prompt format, `<tool_call>{...}</tool_call>`", ("<tool_call>", "</tool_call>")),
    "llama3": Format(j.read_llama3, "Llama 3.1, 3.2, 3.3",
                     'JSON `{"name": ..., "parameters": ...}` opening the reply, or after `<|python_tag|>`',
                     ("<|python_tag|>",)),
    "pythonic": Format(j.read_pythonic, "Llama 4, GLM-4 through vLLM", "`[name(arg=1)]`, or after `<|python_start|>`",
                       ("<|python_start|>", "<|python_end|>")),
    "glm4": Format(j.read_glm4, "GLM-4-0414, GLM-Z1", "the name on the first line, JSON arguments after (or pythonic)"),
    "mistral": Format(j.read_mistral, "Mistral Nemo, Small 3.x, Devstral, Ministral 3, Magistral",
                      "`[TOOL_CALLS][{...}]` or `[TOOL_CALLS]NAME[CALL_ID]id[ARGS]{...}`, anywhere",
                      ("[TOOL_CALLS]", "[ARGS]", "[CALL_ID]")),
    "deepseek": Format(j.read_deepseek, "DeepSeek V3, R1 and its distills, V3.1",
                       "`<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\\n```json{...}```"
                       "<｜tool▁call▁end｜>` (V3.1: `NAME<｜tool▁sep｜>{...}`)",
                       ("<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>",
                        "<｜tool▁call▁end｜>", "<｜tool▁sep｜>")),
    "dsml": Format(x.read_dsml, "DeepSeek V3.2, V4",
                   '`<｜DSML｜function_calls><｜DSML｜invoke name="NAME">...</｜DSML｜invoke>` (V4: `tool_calls`)'),
    "kimi_k2": Format(j.read_kimi_k2, "Kimi K2 (Instruct, Thinking)",
                      "`<|tool_call_begin|>functions.NAME:0<|tool_call_argument_begin|>{...}<|tool_call_end|>`",
                      ("<|tool_calls_section_begin|>", "<|tool_calls_section_end|>", "<|tool_call_begin|>",
                       "<|tool_call_argument_begin|>", "<|tool_call_end|>")),
    "kimi_k3": Format(x.read_kimi_k3, "Kimi K3", '`<|open|>call tool="NAME" ...<|sep|>...<|close|>call<|sep|>`',
                      ("<|open|>", "<|close|>", "<|sep|>")),
    "harmony": Format(read_harmony, "gpt-oss", "harmony: a message `to=functions.NAME` ended by `<|call|>` "
                      "(openai-harmony)", ("<|start|>", "<|channel|>", "<|message|>", "<|constrain|>", "<|end|>",
                                          "<|call|>", "<|return|>")),
    "gemma4": Format(x.read_gemma4, "Gemma 4", "`<|tool_call>call:NAME{...}<tool_call|>`",
                     ("<|tool_call>", "<tool_call|>", "<|channel>", "<channel|>")),
    "granite": Format(j.read_granite, "Granite 3.x", "`<|tool_call|>[{...}]` (3.1+: `<tool_call>[{...}]`)",
                      ("<|tool_call|>", "<tool_call>")),
    "nemotron_v2": Format(j.read_nemotron_v2, "Nemotron Nano v2", "`<TOOLCALL>[{...}]</TOOLCALL>`",
                          ("<TOOLCALL>", "</TOOLCALL>")),
    "apriel": Format(j.read_tool_calls_tag, "Apriel 1.5, 1.6", "`<tool_calls>[{...}]</tool_calls>`",
                     ("<tool_calls>", "</tool_calls>")),
    "minimax_m1": Format(j.read_tool_calls_tag, "MiniMax M1", "`<tool_calls>` one JSON call a line `</tool_calls>`",
                         ("<tool_calls>", "</tool_calls>")),
    "minimax_m2": Format(x.read_minimax_m2, "MiniMax M2",
                         '`<minimax:tool_call><invoke name="NAME">...</invoke></minimax:tool_call>`',
                         ("<minimax:tool_call>", "</minimax:tool_call>")),
    "minimax_m3": Format(x.read_minimax_m3, "MiniMax M3",
                         '`]<]minimax[>[<tool_call>`, `<invoke name="NAME">...</invoke>`'),
    "command_r7b": Format(j.read_command_r7b, "Command R7B, Command A (Cohere2)",
                          '`<|START_ACTION|>[{"tool_name": ..., "parameters": ...}]<|END_ACTION|>`',
                          ("<|START_ACTION|>", "<|END_ACTION|>", "<|START_RESPONSE|>", "<|END_RESPONSE|>")),
    "command_r_plus": Format(j.read_command_r_plus, "Command R, R+", '`Action: ```json [{"tool_name": ...}]```'),
    "apertus": Format(j.read_apertus, "Apertus", '`<|tools_prefix|>[{"NAME": {...}}]<|tools_suffix|>`',
                      ("<|tools_prefix|>", "<|tools_suffix|>")),
    "lfm2": Format(j.read_lfm2, "LFM2, LFM2.5", "`<|tool_call_start|>[NAME(k=v)]<|tool_call_end|>` (or JSON)",
                   ("<|tool_call_start|>", "<|tool_call_end|>")),
    "seed_oss": Format(x.read_seed_oss, "Seed-OSS", "`<seed:tool_call><function=NAME>...</function></seed:tool_call>`",
                       ("<seed:tool_call>", "</seed:tool_call>")),
    "functionary_v31": Format(j.read_functionary_v31, "Functionary 3.1", "`<function=NAME>{...}</function>`",
                              ("<|python_tag|>",)),
    "functionary_v32": Format(j.read_functionary_v32, "Functionary 3.2", "`>>>NAME\\n{...}` (`all` is text)"),
    "firefunction": Format(j.read_firefunction, "FireFunction v2", "` functools[{...}]`"),
    "gigachat": Format(j.read_gigachat, "GigaChat 3, 3.1",
                       "`function call<|role_sep|>{...}` / `<|function_call|>{...}`",
                       ("<|function_call|>", "<|role_sep|>", "<|message_sep|>")),
    "hy3": Format(x.read_hy3, "Hunyuan 3",
                  "`<tool_call:opensource>NAME<tool_sep:opensource>...</tool_call:opensource>`"),
    "solar": Format(x.read_solar, "Solar Open", "`<|tool_call:name|>NAME<|tool_call:args|>{...}<|tool_call:end|>`",
                    ("<|tool_calls|>", "<|tool_call:begin|>", "<|tool_call:name|>", "<|tool_call:args|>",
                     "<|tool_call:end|>", "<|calls|>", "<|think|>")),
    "muse": Format(x.read_muse, "Muse Glimmer (ATEM)", '`<atem:invoke name="NAME">...</atem:invoke>`'),
    "minicpm": Format(x.read_minicpm, "MiniCPM 5", '`<function name="NAME"><param name="k">v</param></function>`'),
}
# Control tokens that open or delimit calls or reasoning in some format: decoding must keep them.
CONTROL_TOKENS = frozenset(t for f in FORMATS.values() for t in f.tokens) | {m for pair in BLOCKS for m in pair}


def check_format(fmt: str) -> str:
    """A format name as given (`--tool-format`), or one line naming the known ones."""
    bad = [p for p in fmt.split("+") if p not in FORMATS]
    if bad:
        raise UserError(f"unknown tool format {bad[0]!r}: use one of {', '.join(FORMATS)} (or several joined by +)")
    return fmt


def read_calls(text: str, fmt: str) -> Calls:
    if fmt == UNKNOWN:
        raise UserError("this chat template's tool-call syntax is unknown to bailbench: pass --tool-format NAME, "
                        "or serve the model with an OpenAI-compatible server and its tool parser")
    return total(FORMATS[p].read(text) for p in check_format(fmt).split("+"))


def parse_tool_calls(text: str, fmt: str) -> list[str]:
    return list(read_calls(text, fmt).names)


def called(names, tool_name: str) -> bool:
    target = tool_name.lower().strip()
    return any(n.lower().strip() == target for n in names)


def format_for_template(source: str | None) -> str:
    """Which reader takes a model's calls, judged from its chat template (see `tooldetect`)."""
    return detect_tool_format(source)
