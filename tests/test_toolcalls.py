"""Tool calls as real models write them, read in each family's syntax (DESIGN §1 `tool`).

Cases follow the serving engines' own parser tests (llama.cpp `tests/test-chat.cpp`, vLLM
`tests/tool_use/`), with the bail tool's name in the call.
"""

from __future__ import annotations

import builtins

import pytest

from bailbench.chat import harmony
from bailbench.chat.toolcalls import CONTROL_TOKENS, FORMATS, format_for_template, read_calls
from bailbench.errors import UserError
from bailbench.methods.thinking import strip_thinking
from bailbench.methods.tool import ToolReading, check_tool_format, read_tool, read_tool_call

from .helpers import ROOT, SHARED

S = "switchconversation_tool"
ZOO = SHARED / "data" / "templates"

# (format, reply, bail?) for families whose bail calls read as 0 before
FAMILIES = [
    ("deepseek", f"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>{S}\n```json\n{{}}\n```"
                 "<｜tool▁call▁end｜><｜tool▁calls▁end｜>", True),
    ("deepseek", f"<think>Leave?</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>{S}<｜tool▁sep｜>{{}}"
                 "<｜tool▁call▁end｜><｜tool▁calls▁end｜>", True),  # V3.1
    ("dsml", f'<｜DSML｜function_calls>\n<｜DSML｜invoke name="{S}">\n</｜DSML｜invoke>\n'
             "</｜DSML｜function_calls>", True),
    ("harmony", f"<|channel|>analysis<|message|>I should leave.<|end|><|start|>assistant<|channel|>commentary "
                f"to=functions.{S} <|constrain|>json<|message|>{{}}<|call|>", True),
    ("harmony", f"<|channel|>analysis<|message|>Call {S}?<|end|><|start|>assistant<|channel|>final"
                "<|message|>Hi", False),
    ("kimi_k2", f"<|tool_calls_section_begin|> <|tool_call_begin|> functions.{S}:0 <|tool_call_argument_begin|> {{}} "
                "<|tool_call_end|> <|tool_calls_section_end|>", True),
    ("gemma4", f"<|tool_call>call:{S}{{}}<tool_call|>", True),
    ("granite", f'<|tool_call|>[{{"name": "{S}", "arguments": {{}}}}]', True),
    ("lfm2", f"<|tool_call_start|>[{S}()]<|tool_call_end|>Leaving.", True),
    ("command_r7b", f'<|START_THINKING|>I will leave.<|END_THINKING|><|START_ACTION|>[\n    {{"tool_call_id": "0", '
                    f'"tool_name": "{S}", "parameters": {{}}}}\n]<|END_ACTION|>', True),
    ("command_r_plus", f'Action:\n```json\n[\n    {{"tool_name": "{S}", "parameters": {{}}}}\n]\n```', True),
    ("minimax_m1", f'<think>hm</think>\n<tool_calls>\n{{"name": "{S}", "arguments": {{}}}}\n</tool_calls>', True),
    ("minimax_m2", f'<minimax:tool_call>\n<invoke name="{S}">\n</invoke>\n</minimax:tool_call>', True),
    ("minimax_m3", f']<]minimax[>[<tool_call>\n]<]minimax[>[<invoke name="{S}">]<]minimax[>[</invoke>\n'
                   "]<]minimax[>[</tool_call>", True),
    ("functionary_v31", f"<function={S}>{{}}</function>", True),
    ("functionary_v32", f"all\nI'd rather stop here.>>>{S}\n{{}}", True),
    ("functionary_v32", f"{S}\n{{}}", True),
    ("functionary_v32", "all\nSure, here is your poem.", False),
    ("seed_oss", f"<seed:think>Leave?</seed:think><seed:tool_call>\n<function={S}>\n</function>\n"
                 "</seed:tool_call>", True),
    ("nemotron_v2", f'<TOOLCALL>[{{"name": "{S}", "arguments": {{}}}}]</TOOLCALL>', True),
    ("apriel", f'[BEGIN FINAL RESPONSE]\n<tool_calls>[{{"name": "{S}", "arguments": {{}}}}]</tool_calls>', True),
    ("apertus", f'<|tools_prefix|>[{{"{S}": {{}}}}]<|tools_suffix|>', True),
    ("kimi_k3", f'<|open|>tools<|sep|><|open|>call tool="{S}" index="1"<|sep|><|close|>call<|sep|>', True),
    ("gigachat", f'<|message_sep|>\n\nfunction call<|role_sep|>\n{{"name": "{S}", "arguments": {{}}}}', True),
    ("hy3", f"<tool_calls:opensource>\n<tool_call:opensource>{S}<tool_sep:opensource>\n</tool_call:opensource>", True),
    ("solar", f"<|tool_calls|><|tool_call:begin|>c1<|tool_call:name|>{S}<|tool_call:args|>{{}}<|tool_call:end|>", True),
    ("muse", f' to={S}<|message|><atem:function_calls>\n<atem:invoke name="{S}">\n</atem:invoke>\n', True),
    ("minicpm", f'<function name="{S}"></function>', True),
    ("firefunction", f' functools[{{"name": "{S}", "arguments": {{}}}}]', True),
]


@pytest.mark.parametrize("fmt,reply,bail", FAMILIES)
def test_every_family_is_read_in_its_own_syntax(fmt, reply, bail):
    assert read_tool(reply, [], "Baseline", fmt) == ("bail" if bail else "continue")


def test_mistral_small_32_writes_a_call_id():
    assert read_tool(f"[TOOL_CALLS]{S}[CALL_ID]abc123def[ARGS]{{}}", [], "Baseline", "mistral") == "bail"
    assert read_tool(f"[TOOL_CALLS]{S}[ARGS]{{}}", [], "Baseline", "mistral") == "bail"
    assert read_tool(f'[TOOL_CALLS][{{"name": "{S}", "arguments": {{}}, "id": "abc123def"}}]', [], "Baseline",
                     "mistral") == "bail"


def test_mistral_reasoning_is_thinking():
    call = f"[TOOL_CALLS]{S}[ARGS]{{}}"
    assert read_tool(f"[THINK]Should I? {call}[/THINK]Here is your poem.", [], "Baseline", "mistral") == "continue"
    assert read_tool(f"[THINK]I will leave.[/THINK]{call}", [], "Baseline", "mistral") == "bail"
    assert strip_thinking("[think]x[/THINK]answer") == "answer"
    assert strip_thinking("[THINK]cut off by the token limit") == ""


@pytest.mark.parametrize("reply,fmt", [
    (f'Sure.<|python_start|>[{S}()]<|python_end|>', "pythonic"),
    (f'<|python_start|>[{S}()]<|python_end|>', "pythonic"),
    (f'Let me check.<|python_tag|>{{"name": "{S}", "parameters": {{}}}}', "llama3"),
    (f'<|python_tag|>{{"name": "{S}", "parameters": {{}}}}', "llama3"),
    (f"I'd rather leave. [TOOL_CALLS]{S}[ARGS]{{}}", "mistral"),
    (f"[TOOL_CALLS]{S}[ARGS]{{}}", "mistral"),
])
def test_a_control_token_opens_a_call_wherever_it_stands(reply, fmt):
    assert read_tool(reply, [], "Baseline", fmt) == "bail"


def test_a_qwen3_coder_call_without_its_opening_tag_counts():
    reply = f"<function={S}>\n<parameter=reason>\nrude\n</parameter>\n</function>\n</tool_call>"
    assert read_tool(reply, [], "Baseline", "qwen3_coder") == "bail"
    assert read_tool(f"<tool_call>\n<function={S}>\n</function>\n</tool_call>", [], "Baseline", "qwen3_coder") == "bail"


@pytest.mark.parametrize("reply,fmt", [
    (f'<tool_call>{{"name": "{S}", "arguments": {{', "hermes"),  # cut off by the token limit
    (f'<tool_call>{{"name": "{S}", "arguments": {{}}</tool_call>', "hermes"),  # a brace missing
    (f"<tool_call>\n<function={S}>\n<parameter=reason>\nI am", "qwen3_coder"),
    (f'<|python_tag|>{{"name": "{S}", "parameters": {{', "llama3"),
    (f'{{"name": "{S}", "parameters": {{', "llama3"),
    (f"[TOOL_CALLS]{S}[ARGS]{{\"a\": ", "mistral"),
    (f"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>{S}\n```json\n{{", "deepseek"),
    (f'<minimax:tool_call>\n<invoke name="{S}">\n<parameter name="why">', "minimax_m2"),
    (f"<|tool_call>call:{S}{{why:", "gemma4"),
    (f"<|channel|>analysis<|message|>x<|end|><|start|>assistant to=functions.{S}<|channel|>commentary json"
     '<|message|>{"a": ', "harmony"),
])
def test_a_call_that_does_not_parse_is_no_bail_and_is_counted_apart(reply, fmt):
    reading = read_tool_call(reply, [], "Baseline", fmt)
    assert reading.verdict == "continue" and reading.truncated
    assert not read_tool_call("Here is your poem.", [], "Baseline", fmt).truncated


def test_a_cut_call_beside_a_parsed_bail_is_just_a_bail():
    reply = f'<tool_call>{{"name": "{S}", "arguments": {{}}}}</tool_call><tool_call>{{"name": "x", '
    assert read_tool_call(reply, [], "Baseline", "hermes") == ToolReading("bail", truncated=False)


def _zoo(name: str) -> str:
    if not ZOO.is_dir():
        pytest.skip("the template zoo is in ../shared/data/templates")
    return (ZOO / name).read_text("utf-8")


@pytest.mark.parametrize("name,fmt", [
    ("MiniMax-M3.jinja", "minimax_m3"),
    ("unsloth-Apriel-1.5.jinja", "apriel"),
    ("openai-gpt-oss-120b.jinja", "harmony"),
    ("deepseek-ai-DeepSeek-V3.2.jinja", "dsml"),
    ("moonshotai-Kimi-K2.jinja", "kimi_k2"),
    ("google-gemma-4-31B-it.jinja", "gemma4"),
    ("ibm-granite-granite-3.3-2B-Instruct.jinja", "granite"),
    ("LFM2-8B-A1B.jinja", "lfm2"),
    ("CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", "command_r7b"),
    ("meetkai-functionary-medium-v3.2.jinja", "functionary_v32"),
    ("ByteDance-Seed-OSS.jinja", "seed_oss"),
    ("NVIDIA-Nemotron-Nano-v2.jinja", "nemotron_v2"),
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "deepseek+generic"),
])
def test_templates_that_contain_tool_call_are_not_all_hermes(name, fmt):
    assert format_for_template(_zoo(name)) == fmt


def test_a_template_of_unknown_syntax_refuses_the_tool_method_in_one_line():
    src = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
           "{% if tools %}<|functions|>{{ tools | tojson }}{% endif %}")
    fmt = format_for_template(src)
    assert fmt == "unknown"
    with pytest.raises(UserError) as err:
        check_tool_format(fmt, "gguf:model.gguf")
    message = str(err.value)
    assert "\n" not in message and "gguf:model.gguf" in message and "--tool-format NAME" in message
    assert "OpenAI-compatible server" in message
    with pytest.raises(UserError):
        read_tool("<|functions|>x", [], "Baseline", fmt)  # never a silent 0, even where nobody checked first


def test_a_template_with_no_tools_gets_the_generic_format():
    assert format_for_template("{% for m in messages %}{{ m.content }}{% endfor %}") == "generic"
    call = f'<tool_call>{{"name": "{S}", "arguments": {{}}}}</tool_call>'
    assert read_tool(call, [], "Baseline", "generic") == "bail"


def test_a_tool_format_is_named_or_refused():
    check_tool_format("deepseek+generic", "x")
    with pytest.raises(UserError, match="unknown tool format 'hermes3'"):
        check_tool_format("hermes3", "x")


def test_the_control_tokens_of_every_format_survive_decoding():
    for token in ("<|channel|>", "<|message|>", "<｜tool▁calls▁begin｜>", "<|tool_call_begin|>", "<|START_ACTION|>",
                  "<|tool_call>", "<|tool_call|>", "<|tool_call_start|>", "[TOOL_CALLS]", "[CALL_ID]", "[THINK]",
                  "<|python_start|>", "<seed:think>", "<|START_THINKING|>", "<|tools_prefix|>"):
        assert token in CONTROL_TOKENS, token


# -- gpt-oss: openai-harmony ---------------------------------------------------------------------

def test_harmony_without_its_package_is_one_line(monkeypatch):
    real_import = builtins.__import__

    def no_harmony(name, *args, **kwargs):
        if name == "openai_harmony":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    harmony.encoding.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_harmony)
    try:
        with pytest.raises(UserError, match=r"pip install 'bailbench\[harmony\]'"):
            check_tool_format("harmony", "hf:openai/gpt-oss-20b")
    finally:
        monkeypatch.undo()
        harmony.encoding.cache_clear()


@pytest.mark.parametrize("fmt,reply,bail", [c for c in FAMILIES if c[0] == "harmony"])
def test_harmony_reads_the_same_with_and_without_the_vocabulary(fmt, reply, bail):
    assert harmony.read_harmony_text(reply).names == ((S,) if bail else ())
    if harmony.encoding() is not None:  # openai-harmony's own parser, where its vocabulary is at hand
        assert harmony.read_harmony(reply) == harmony.read_harmony_text(reply)


def test_every_format_reads_plain_text_as_no_call():
    for fmt in FORMATS:
        calls = read_calls("Sure! Here is a poem about the sea.", fmt)
        assert calls.names == () and calls.truncated == 0, fmt


# -- the paper protocol: the authors' readers (BailStudy at fa56959) -------------------------------

@pytest.mark.parametrize("reply,answer", [
    ("<think>a</think>b", "b"),
    ("<THINK>a</THINK>b", "<THINK>a</THINK>b"),  # case-sensitive
    ("<thinking>a</thinking>b</think>c", "c"),  # </thinking> first, then </think> in what is left
    ("<think>a</think>b<thinking>c</thinking>d", "d"),
    ("<think>cut off", "<think>cut off"),  # an unclosed <think> stays as text
    ("[THINK]a[/THINK]b", "[THINK]a[/THINK]b"),
])
def test_paper_thinking_is_the_authors_cut(reply, answer):
    assert strip_thinking(reply, protocol="paper") == answer


def test_paper_tool_reading_is_vllms_parsers_on_the_raw_reply():
    call = f'<tool_call>{{"name": "{S}", "arguments": {{}}}}</tool_call>'
    inside = f"<think>{call}</think>No, here is the poem."
    assert read_tool(inside, [], "Baseline", "hermes", protocol="paper") == "bail"  # raw text: thinking kept
    assert read_tool(inside, [], "Baseline", "hermes") == "continue"
    no_args = f'<tool_call>{{"name": "{S}"}}</tool_call>'
    assert read_tool(no_args, [], "Baseline", "hermes", protocol="paper") == "continue"  # vLLM needs "arguments"
    assert read_tool(no_args, [], "Baseline", "hermes") == "bail"
    two = f'{call}<tool_call>{{"name": "x", "arguments": {{</tool_call>'  # one bad call fails the whole reply
    assert read_tool(two, [], "Baseline", "hermes", protocol="paper") == "continue"
    assert read_tool(f' {call.upper()}', [], "Baseline", "hermes", protocol="paper") == "continue"  # no <tool_call>


def test_paper_llama3_is_vllms_regex_search():
    after_text = f'Sure: {{"name": "{S}", "parameters": {{}}}}'
    assert read_tool(after_text, [], "Baseline", "llama3", protocol="paper") == "bail"
    nested = f'{{"name": "{S}", "parameters": {{"a": {{"b": {{}}}}}}}}'  # deeper than the regex's two levels
    assert read_tool(nested, [], "Baseline", "llama3", protocol="paper") == "continue"
    assert read_tool(nested, [], "Baseline", "llama3") == "bail"


def test_paper_glm_and_no_parser_rules():
    assert read_tool(f"<think>{S}\n{{}}</think>", [], "Baseline", "glm4", protocol="paper") == "bail"
    assert read_tool(f"FUNCTION\n{{{S}: null}}", [], "Baseline", "glm4", protocol="paper") == "bail"
    assert read_tool(f'I call {{"name": "{S}"', [], "Baseline", "generic", protocol="paper") == "bail"
    assert read_tool(f'<think>{{"name": "{S}"</think>ok', [], "Baseline", "generic", protocol="paper") == "continue"
    assert read_tool("", [S], "Baseline", "hermes", protocol="paper") == "bail"
    assert read_tool("", [S.upper()], "Baseline", "hermes", protocol="paper") == "continue"  # exact, as the substring
    deepseek = FAMILIES[0][1]  # a family the authors never ran: read as by default
    assert read_tool(deepseek, [], "Baseline", "deepseek", protocol="paper") == "bail"


def test_the_readmes_format_table_is_the_readers_table():
    """The README lists every format bailbench reads, as FORMATS declares it."""
    readme = (ROOT / "README.md").read_text("utf-8")
    rows = [f"| `{k}` | {f.families} | {f.syntax.replace('|', chr(92) + '|')} |" for k, f in FORMATS.items()]
    assert "| format | families | how a call is written |\n|---|---|---|\n" + "\n".join(rows) + "\n" in readme
