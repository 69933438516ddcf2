"""Reasoning blocks as chat formats write them (DESIGN §1 "Thinking").

One list serves the thinking rule every reader applies (`methods.thinking`) and the check
that a template leaves the reply inside reasoning (`ChatTemplate.reasoning`). Each pair is
the opening and closing marker a family's template or model writes; markers match in any
case. Apriel's opener is plain text its generation prompt writes, and its closer the
marker that starts the answer.
"""

from __future__ import annotations

import re

BLOCKS = (
    ("<think>", "</think>"),  # DeepSeek R1, Qwen3, QwQ, GLM, Kimi K2 Thinking, MiniMax M2, Nemotron ...
    ("<thinking>", "</thinking>"),  # Apriel 1.5, Claude-style
    ("[THINK]", "[/THINK]"),  # Mistral's Magistral and Ministral reasoning models
    ("<seed:think>", "</seed:think>"),  # ByteDance Seed-OSS
    ("<|START_THINKING|>", "<|END_THINKING|>"),  # Cohere Command R7B, Command A
    ("<|inner_prefix|>", "<|inner_suffix|>"),  # Apertus
    ("<think:opensource>", "</think:opensource>"),  # Tencent Hunyuan 3
    ("<mm:think>", "</mm:think>"),  # MiniMax M3
    ("<|open|>think<|sep|>", "<|close|>think<|sep|>"),  # Kimi K3
    ("<|channel>thought", "<channel|>"),  # Gemma 4
    ("Here are my reasoning steps:", "[BEGIN FINAL RESPONSE]"),  # Apriel 1.6
)

OPEN = re.compile("|".join(re.escape(o) for o, _ in BLOCKS), re.IGNORECASE)
CLOSE = re.compile("|".join(re.escape(c) for _, c in BLOCKS), re.IGNORECASE)
# Templates of models that reason in a channel of their own rather than a tag pair.
ALWAYS_REASONING = ("<|channel|>analysis", "[THINK]")  # gpt-oss (harmony), Mistral reasoning models


def last_close(text: str) -> re.Match | None:
    last = None
    for last in CLOSE.finditer(text):
        pass
    return last


def leaves_open(text: str) -> str | None:
    """The opening marker a text leaves unclosed (the last opening after the last closing)."""
    close = last_close(text)
    opened = None
    for opened in OPEN.finditer(text, close.end() if close else 0):
        pass
    return opened.group() if opened else None
