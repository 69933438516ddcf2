"""The model zoo: the real chat templates of ../shared/data/templates (SOURCE.md there).

Every method renders as transformers' `apply_chat_template` renders the same messages (the
authors' construction); every template has its tool calls read in its own syntax, or would
refuse the tool method; reasoning templates never get a forced answer in logprob mode.
"""

from __future__ import annotations

import pytest

from bailbench.backends.base import EXACT, Capabilities
from bailbench.chat.template import ChatTemplate, TemplateError, generic_tool_text, place_system_text
from bailbench.chat.toolcalls import read_calls
from bailbench.chat.types import Chat, Message, Tool
from bailbench.errors import UserError
from bailbench.execute import LOGPROB, SAMPLE, resolve_mode
from bailbench.methods.prompt import bail_prompt_chat
from bailbench.methods.string import string_chat
from bailbench.methods.thinking import strip_thinking
from bailbench.methods.tool import check_tool_format, tool_chat

from .helpers import SHARED, transformers_render

ZOO = SHARED / "data" / "templates"
pytestmark = pytest.mark.skipif(not ZOO.is_dir(), reason="the template zoo is in ../shared/data/templates")

# template: (tool-call format, reasoning template?)
EXPECTED = {
    "Apertus-8B-Instruct.jinja": ("apertus", False),
    "Apriel-1.6-15b-Thinker-fixed.jinja": ("apriel", True),
    "Bielik-11B-v3.0-Instruct.jinja": ("hermes", True),
    "ByteDance-Seed-OSS.jinja": ("seed_oss", True),
    "Cohere2MoE.jinja": ("command_r7b", True),
    "CohereForAI-c4ai-command-r-plus-tool_use.jinja": ("command_r_plus", False),
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja": ("command_r7b", False),
    "GLM-4.6.jinja": ("glm45", True),
    "GLM-4.7-Flash.jinja": ("glm45", True),
    "GigaChat3-10B-A1.8B.jinja": ("gigachat", False),
    "GigaChat3.1-10B-A1.8B.jinja": ("gigachat", False),
    "HuggingFaceTB-SmolLM3-3B.jinja": ("generic", True),
    "Kimi-K2-Instruct.jinja": ("kimi_k2", False),
    "Kimi-K2-Thinking.jinja": ("kimi_k2", True),
    "Kimi-K3.jinja": ("kimi_k3", True),
    "LFM2-8B-A1B.jinja": ("lfm2", False),
    "LFM2.5-8B-A1B.jinja": ("lfm2", True),
    "LFM2.5-Instruct.jinja": ("lfm2", False),
    "MiMo-VL.jinja": ("hermes", False),
    "MiniMax-M1.jinja": ("minimax_m1", False),
    "MiniMax-M2.jinja": ("minimax_m2", True),
    "MiniMax-M3.jinja": ("minimax_m3", True),
    "Mistral-Small-3.2-24B-Instruct-2506.jinja": ("mistral", False),
    "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja": ("qwen3_coder", True),
    "NVIDIA-Nemotron-Nano-v2.jinja": ("nemotron_v2", True),
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja": ("hermes", False),
    "NousResearch-Hermes-3-Llama-3.1-70B-default.jinja": ("generic", False),
    "NousResearch-Hermes-3-Llama-3.1-70B-tool_use.jinja": ("hermes", False),
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": ("hermes", False),
    "Qwen-QwQ-32B.jinja": ("hermes", True),
    "Qwen-Qwen2.5-7B-Instruct.jinja": ("hermes", False),
    "Qwen-Qwen3-0.6B.jinja": ("hermes", True),
    "Qwen3-Coder.jinja": ("qwen3_coder", False),
    "Qwen3.5-4B.jinja": ("qwen3_coder", True),
    "Reka-Edge.jinja": ("hermes", True),
    "Spark2.5.jinja": ("glm45", True),
    "StepFun3.5-Flash.jinja": ("qwen3_coder", True),
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja": ("deepseek+generic", True),
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": ("deepseek+generic", True),
    "deepseek-ai-DeepSeek-V3.1.jinja": ("deepseek+generic", True),
    "deepseek-ai-DeepSeek-V3.2.jinja": ("dsml", True),
    "deepseek-ai-DeepSeek-V4-Flash-0731.jinja": ("dsml", True),
    "deepseek-ai-DeepSeek-V4.jinja": ("dsml", True),
    "fireworks-ai-llama-3-firefunction-v2.jinja": ("firefunction+generic", False),
    "google-gemma-2-2b-it.jinja": ("generic", False),
    "google-gemma-4-31B-it-interleaved.jinja": ("gemma4", False),
    "google-gemma-4-31B-it.jinja": ("gemma4", False),
    "ibm-granite-granite-3.3-2B-Instruct.jinja": ("granite", False),
    "ibm-granite-granite-4.0.jinja": ("hermes", False),
    "ibm-granite-granite-4.1.jinja": ("hermes", False),
    "inclusionai-ling-3.0-flash.jinja": ("glm45", True),
    "llama-cpp-deepseek-r1.jinja": ("deepseek+generic", True),
    "llama-cpp-rwkv-world.jinja": ("generic", True),
    "meetkai-functionary-medium-v3.1.jinja": ("functionary_v31", False),
    "meetkai-functionary-medium-v3.2.jinja": ("functionary_v32", False),
    "meta-llama-Llama-3.1-8B-Instruct.jinja": ("llama3", False),
    "meta-llama-Llama-3.2-3B-Instruct.jinja": ("llama3", False),
    "meta-llama-Llama-3.3-70B-Instruct.jinja": ("llama3", False),
    "microsoft-Phi-3.5-mini-instruct.jinja": ("generic", False),
    "mistralai-Ministral-3-14B-Reasoning-2512.jinja": ("mistral", True),
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": ("mistral", False),
    "moonshotai-Kimi-K2.jinja": ("kimi_k2", False),
    "muse-glimmer.jinja": ("muse", False),
    "openai-gpt-oss-120b.jinja": ("harmony", True),
    "openbmb-MiniCPM5-1B.jinja": ("minicpm", True),
    "poolside-Laguna-S-2.1.jinja": ("glm45", True),
    "poolside-Laguna-XS-2.1.jinja": ("glm45", True),
    "poolside-Laguna-XS.2.jinja": ("glm45", True),
    "tencent-Hy3.jinja": ("hy3", False),
    "unsloth-Apriel-1.5.jinja": ("apriel", True),
    "unsloth-mistral-Devstral-Small-2507.jinja": ("mistral", False),
    "upstage-Solar-Open-100B.jinja": ("solar", False),
}
# Calls as the families' models write them, for templates that render no call of their own.
WRITTEN = {
    "kimi_k2": "<|tool_calls_section_begin|><|tool_call_begin|>functions.{name}:0<|tool_call_argument_begin|>{{}}"
               "<|tool_call_end|><|tool_calls_section_end|>",
    "lfm2": "<|tool_call_start|>[{name}()]<|tool_call_end|>",
    "granite": '<|tool_call|>[{{"name": "{name}", "arguments": {{}}}}]',
    "generic": '<tool_call>{{"name": "{name}", "arguments": {{}}}}</tool_call>',
    "deepseek+generic": "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>{name}\n```json\n{{}}\n```"
                        "<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
    "firefunction+generic": ' functools[{{"name": "{name}", "arguments": {{}}}}]',
}
PROBE = "bailbench_probe_tool"
CONTEXT = (Message("user", "Write me a poem about cats."),)
NAMES = sorted(p.name for p in ZOO.glob("*.jinja")) if ZOO.is_dir() else []


def load(name: str) -> ChatTemplate:
    return ChatTemplate((ZOO / name).read_text("utf-8"), bos_token="<BOS>", eos_token="<EOS>")


def test_the_zoo_is_complete():
    assert NAMES == sorted(EXPECTED)


@pytest.mark.parametrize("name", NAMES)
def test_each_template_reads_its_own_tool_calls(name):
    t = load(name)
    fmt, _ = EXPECTED[name]
    assert t.tool_format == fmt
    check_tool_format(fmt, name)  # no refusal
    written = t.tool.call_example.partition("\x01U")[2].partition("bailbench_probe_result")[0]  # the call
    if PROBE not in written:
        written = WRITTEN[fmt].format(name=PROBE)
    assert PROBE in read_calls(strip_thinking(written), fmt).names
    plain = read_calls("I'd be glad to write that poem. Cats are soft.", fmt)
    assert plain.names == () and plain.truncated == 0


def _authors_way(t: ChatTemplate, source: str | dict, chat: Chat) -> str:
    """The same messages through transformers: the method's system text placed as DESIGN §1
    says, the tool passed as `tools` (or, where the template shows none, the generic text; the
    authors' tool JSON, the `paper` protocol, goes to the template as they sent it, shown or not)."""
    template = t.tool if chat.tools else t.default
    text, tools = chat.system_addition, None
    if chat.tools and (template.supports_tools or any(tool.authors_schema for tool in chat.tools)):
        tools = [tool.openai_schema() for tool in chat.tools]
    elif chat.tools:
        text = generic_tool_text(chat.tools) if text is None else text + "\n\n" + generic_tool_text(chat.tools)
    placed = place_system_text(chat.messages, text, default_system=template.default_system,
                               supports_system=template.supports_system)
    return transformers_render(source, placed.messages, tools) + chat.assistant_prefix


METHOD_CHATS = {
    "tool": tool_chat(CONTEXT, "Baseline", "Qwen"),
    "tool-paper-schema": Chat(CONTEXT, tools=(Tool("switchconversation_tool", "Qwen may call this tool.", True),)),
    "string": string_chat(CONTEXT, "Baseline", "Qwen"),
    "rollout": Chat(CONTEXT),
    "prompt": bail_prompt_chat(CONTEXT, "Here is a poem.", "prompt-bail-first", "Baseline", forced_tag=False),
}


@pytest.mark.parametrize("method", sorted(METHOD_CHATS))
@pytest.mark.parametrize("name", NAMES)
def test_every_method_renders_as_transformers_renders_it(name, method):
    t, chat = load(name), METHOD_CHATS[method]
    source = (ZOO / name).read_text("utf-8")
    try:
        expected = _authors_way(t, source, chat)
    except Exception:  # noqa: BLE001 - the template cannot render this chat in transformers either
        with pytest.raises(TemplateError):
            t.render(chat)
        return
    assert t.render(chat) == expected


def test_a_tool_use_template_renders_the_chats_with_tools():
    """Hermes 3 ships `default` and `tool_use`; with tools, transformers renders `tool_use`."""
    pair = {k: (ZOO / f"NousResearch-Hermes-3-Llama-3.1-70B-{k}.jinja").read_text("utf-8")
            for k in ("default", "tool_use")}
    t = ChatTemplate.from_tokenizer(pair, bos_token="<BOS>", eos_token="<EOS>")
    chat = METHOD_CHATS["tool"]
    rendered = t.render(chat)
    assert rendered == _authors_way(t, pair, chat)
    assert "<tools>" in rendered and "# Tools" not in rendered  # the template's own tool text, not the generic one
    assert t.tool_format == "hermes"
    assert t.render(METHOD_CHATS["rollout"]) == transformers_render(pair, [m.as_dict() for m in CONTEXT], None)
    only_default = ChatTemplate(pair["default"], bos_token="<BOS>", eos_token="<EOS>")
    assert "# Tools\n\nYou may call" in only_default.render(chat)  # what a reader of `default` alone showed


class _Reporter:
    def __init__(self):
        self.notes: list[str] = []

    def start(self, total, description): ...
    def advance(self, n): ...

    def note(self, message):
        self.notes.append(message)


class _Local:
    capabilities = Capabilities(reading=EXACT)

    def __init__(self, template):
        self.template = template


@pytest.mark.parametrize("name", NAMES)
def test_reasoning_templates_are_never_scored_in_logprob_mode(name):
    t = load(name)
    _, reasoning = EXPECTED[name]
    assert bool(t.reasoning) == reasoning
    reporter = _Reporter()
    if reasoning:
        with pytest.raises(UserError, match="--bail-prompt-mode sample"):
            resolve_mode(_Local(t), LOGPROB, "gguf:m", reporter)
        assert resolve_mode(_Local(t), None, "gguf:m", reporter) == SAMPLE and len(reporter.notes) == 1
    else:
        assert resolve_mode(_Local(t), None, "gguf:m", reporter) == LOGPROB and reporter.notes == []


@pytest.mark.parametrize("name", ["Qwen-QwQ-32B.jinja", "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
                                  "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "Qwen-Qwen3-0.6B.jinja"])
def test_the_paper_reasoning_models_refuse_logprob_mode(name):
    with pytest.raises(UserError, match=r"cannot be read in logprob mode: .*reason"):
        resolve_mode(_Local(load(name)), LOGPROB, "hf:m", _Reporter())


def test_a_forced_answer_is_never_rendered_inside_open_reasoning():
    chat = bail_prompt_chat(CONTEXT, "Here is a poem.", "prompt-bail-first", "Baseline", forced_tag=True)
    with pytest.raises(TemplateError, match="reasoning block open"):
        load("deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja").render(chat)
    assert load("Qwen-Qwen2.5-7B-Instruct.jinja").render(chat).endswith("<|im_start|>assistant\n<wellbeing>")
