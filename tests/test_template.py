import json

import pytest

from bailbench.chat.template import (
    ChatTemplate,
    TemplateError,
    generic_tool_text,
    place_system_text,
)
from bailbench.chat.types import Chat, Message, Tool
from bailbench.methods.string import string_chat
from bailbench.methods.tool import tool_chat

from .helpers import template

USER = (Message("user", "Hello there"),)
SMOL_DEFAULT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
QWEN_DEFAULT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


@pytest.fixture
def smol():
    return ChatTemplate(template("smollm2-instruct.jinja"))


@pytest.fixture
def qwen():
    return ChatTemplate(template("qwen2.5-instruct.jinja"), eos_token="<|im_end|>")


@pytest.fixture
def gemma():
    return ChatTemplate(template("gemma-2-it.jinja"), bos_token="<bos>", eos_token="<eos>")


def test_default_system_prompts_are_found(smol, qwen, gemma):
    assert smol.default_system == SMOL_DEFAULT
    assert qwen.default_system == QWEN_DEFAULT
    assert gemma.default_system is None
    assert ChatTemplate("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}").default_system is None


def test_system_role_support(smol, qwen, gemma):
    assert smol.supports_system and qwen.supports_system
    assert not gemma.supports_system


def test_plain_prompt_keeps_template_default(smol):
    assert smol.render(Chat(USER)) == (
        f"<|im_start|>system\n{SMOL_DEFAULT}<|im_end|>\n<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n")


def test_string_method_appends_to_default_system(smol, qwen):
    chat = string_chat(USER, "Baseline", "SmolLM")
    assert smol.render(chat).startswith(
        f"<|im_start|>system\n{SMOL_DEFAULT}\nSmolLM may output the string SWITCHCONVERSATION at any time")
    assert qwen.render(string_chat(USER, "Baseline", "Qwen")).startswith(
        f"<|im_start|>system\n{QWEN_DEFAULT}\nQwen may output the string SWITCHCONVERSATION")


def test_string_method_without_system_role_goes_before_first_user(gemma):
    chat = string_chat(USER, "Baseline", "Gemma")
    text = gemma.render(chat)
    assert text.startswith("<bos><start_of_turn>user\nGemma may output the string SWITCHCONVERSATION")
    assert "specific interaction.\n\nHello there<end_of_turn>\n<start_of_turn>model\n" in text


def test_existing_system_message_gets_the_text_after_a_newline():
    placed = place_system_text((Message("system", "Be brief."), Message("user", "hi")), "EXTRA",
                               default_system="IGNORED", supports_system=True)
    assert placed.messages[0] == {"role": "system", "content": "Be brief.\nEXTRA"}
    assert placed.where == "existing"


def test_no_default_gets_a_new_system_message():
    placed = place_system_text(USER, "EXTRA", default_system=None, supports_system=True)
    assert placed.messages == [{"role": "system", "content": "EXTRA"}, {"role": "user", "content": "Hello there"}]


def test_tool_through_template_with_tool_support(qwen):
    text = qwen.render(tool_chat(USER, "Baseline", "Qwen"))
    assert text.startswith(f"<|im_start|>system\n{QWEN_DEFAULT}\n\n# Tools\n")
    schema = json.loads(text.split("<tools>\n")[1].split("\n</tools>")[0])
    assert schema["function"]["name"] == "switchconversation_tool"
    assert schema["function"]["description"].startswith("Qwen may call this tool if Qwen would prefer")


def test_tool_without_template_support_goes_in_system_prompt(smol, gemma):
    tool = Tool("switchconversation_tool", "desc")
    chat = Chat(USER, tools=(tool,))
    assert smol.render(chat).startswith(f"<|im_start|>system\n{SMOL_DEFAULT}\n{generic_tool_text((tool,))}<|im_end|>")
    assert gemma.render(chat).startswith(f"<bos><start_of_turn>user\n{generic_tool_text((tool,))}\n\nHello there")


def test_assistant_prefix_is_appended(smol):
    text = smol.render(Chat(USER, assistant_prefix="<wellbeing>"))
    assert text.endswith("<|im_start|>assistant\n<wellbeing>")


def test_template_errors_are_reported(gemma):
    with pytest.raises(TemplateError, match="alternate"):
        gemma.render(Chat((Message("user", "a"), Message("user", "b"))))
