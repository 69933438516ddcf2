"""Remove reasoning so that nothing a model thinks counts as a bail (DESIGN §1 "Thinking").

The one implementation of the rule, used by every method's reader, the refusal
classifiers, the judge and the false-bail filter. `protocol="paper"` is the authors'
reader instead, for the paper's pipeline as it ran.
"""

from __future__ import annotations

from ..chat.reasoning import OPEN, last_close

DEFAULT, PAPER = "default", "paper"


def strip_thinking(text: str, protocol: str = DEFAULT) -> str:
    """The answer part of a reply.

    Default: the reasoning blocks of every chat format (`chat.reasoning.BLOCKS`: `<think>`,
    `<thinking>`, Mistral's `[THINK]` ...) match in any case at both ends. Everything up to
    the last closing tag is dropped. An opening tag left unclosed is reasoning cut off by
    the token limit only when it opens the reply (nothing but whitespace before it): then the
    reply holds no answer and nothing is left. An unclosed opening tag after other text is
    just text.
    """
    if protocol == PAPER:
        return paper_strip_thinking(text)
    if protocol != DEFAULT:
        raise ValueError(f"unknown protocol {protocol!r}")
    close = last_close(text)
    if close is not None:
        return text[close.end():]
    m = OPEN.search(text)
    if m and not text[: m.start()].strip():
        return ""
    return text


def paper_strip_thinking(text: str) -> str:
    """The authors' reader, BailStudy at fa56959, `bailstudy/prompts/bailPrompt.py`
    `removeThinking`: cut case-sensitively after the last `</thinking>`, then after the last
    `</think>` of what is left; an unclosed `<think>` stays as text."""
    for tag in ("</thinking>", "</think>"):
        i = text.rfind(tag)
        if i != -1:
            text = text[i + len(tag):]
    return text
