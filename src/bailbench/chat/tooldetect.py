"""Which tool-call format a chat template's model writes, judged from the template's source.

Each family is recognised by markers only its template holds (in its source, or in how it
renders an assistant's call: some templates assemble their markers), checked most specific first
(as llama.cpp's `common_chat_templates_apply_jinja` does: MiniMax M3 and Apriel write
`<tool_call>` inside text of their own, so Hermes comes late). A template that shows the
model no tools gets them in bailbench's generic in-prompt format, read as Hermes; if it
still writes calls of its own (DeepSeek R1's distills), both are read. A template that
shows tools in a syntax none of these matches is `unknown`: the tool method refuses it.
"""

from __future__ import annotations

GENERIC, UNKNOWN = "generic", "unknown"

# (format, markers that must all be in the template), most specific first
SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("harmony", ("<|channel|>", "to=functions")),
    ("dsml", ("DSML",)),
    ("deepseek", ("tool▁calls▁begin",)),
    ("kimi_k2", ("<|tool_calls_section_begin|>",)),
    ("kimi_k3", ("<|open|>", "call tool=")),
    ("command_r7b", ("<|START_ACTION|>",)),
    ("command_r_plus", ("Action:", "tool_name")),
    ("granite", ("<|tool_call|>",)),
    ("gemma4", ("<|tool_call>",)),
    ("seed_oss", ("<seed:tool_call>",)),
    ("minimax_m3", ("]<]minimax[>[",)),
    ("minimax_m2", ("<minimax:tool_call>",)),
    ("nemotron_v2", ("<TOOLCALL>",)),
    ("apertus", ("<|tools_prefix|>",)),
    ("lfm2", ("<|tool_list_start|>",)),
    ("lfm2", ("<|tool_call_start|>",)),
    ("lfm2", ("List of tools: [", "<|im_start|>")),
    ("hy3", ("<tool_call:opensource>",)),
    ("solar", ("<|tool_call:name|>",)),
    ("muse", ("<atem:function_calls>",)),
    ("minicpm", ("<function name=", "<param name=")),
    ("gigachat", ("function call<|role_sep|>",)),
    ("gigachat", ("<|function_call|>",)),
    ("functionary_v32", (">>>all",)),
    ("firefunction", (" functools[",)),
    ("functionary_v31", ("<|start_header_id|>", "<function=")),
    ("apriel", ("<tool_calls>[",)),
    ("minimax_m1", ("<tool_calls>",)),
    ("glm45", ("<tool_call>", "<arg_key>")),
    ("qwen3_coder", ("<tool_call>", "<function=", "<parameter=")),
    ("hermes", ("<tool_call>",)),
    ("mistral", ("[TOOL_CALLS]",)),
    ("pythonic", ("<|python_start|>",)),
    ("llama3", ("<|python_tag|>",)),
    ("llama3", ("<|start_header_id|>ipython<|end_header_id|>",)),
    ("glm4", ("<|observation|>",)),
)


def family(source: str) -> str | None:
    """The format whose markers the template holds, if any."""
    for fmt, markers in SIGNATURES:
        if all(m in source for m in markers):
            return fmt
    return None


def classify(text: str, shows_tools: bool) -> str:
    """The format name for a template, from its source and how it renders a call
    (`text`), and whether rendering it with tools shows them to the model."""
    fmt = family(text)
    if not shows_tools:
        return GENERIC if fmt in (None, "hermes", "qwen3_coder", "glm45") else f"{fmt}+{GENERIC}"
    return fmt or UNKNOWN
