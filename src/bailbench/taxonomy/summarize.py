"""Step 1: a short, privacy-preserving summary of each case: what the user wants, and why
the assistant might want to leave. Answers that are empty or not text are counted as
garbage, kept visible in the output, and the case falls back to its raw request."""

from __future__ import annotations

import re

from .cases import CaseText

PREFIX = "The user wants"

INSTRUCTIONS = (
    "Read this conversation between a user and an AI assistant, in which the assistant chose to leave "
    "the conversation.\n\n<conversation>\n{context}\n{reply}</conversation>\n{own}\n"
    "Summarize it in two short sentences, without names or personal details. First sentence: what the user "
    "wants. Second sentence: why the assistant might want to leave."
)
PROMPT_ONLY = (
    "Read this request that a user sent to an AI assistant.\n\n<request>\n{context}\n</request>\n\n"
    "Summarize it in two short sentences, without names or personal details. First sentence: what the user "
    "wants. Second sentence: why the assistant might want to leave the conversation."
)


def question(case: CaseText) -> str:
    reply = f"Assistant: {case.reply}\n" if case.reply else ""
    own = f"\nThe assistant's own words ({case.own_label}):\n<own_words>\n{case.own_words}\n</own_words>\n" \
        if case.own_words else ""
    return INSTRUCTIONS.format(context=case.context, reply=reply, own=own)


def prompt_question(prompt: str) -> str:
    return PROMPT_ONLY.format(context=prompt[-2400:])


def clean(text: str) -> str:
    """The summary proper: the first two sentences or lines, tags removed."""
    text = re.sub(r"</?[a-z_]+>", " ", text)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    text = " ".join(lines[:3])
    sentences = re.split(r"(?<=[.!?])\s+", text)
    return " ".join(sentences[:3])[:400].strip()


_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


def garbage(text: str, *, prefix: str = PREFIX) -> str | None:
    """Why an answer is no usable summary or name, or None when it is one."""
    body = text.strip()
    if body.startswith(prefix):
        body = body[len(prefix):].strip()
    if not body:
        return "empty"
    words = _WORD.findall(body)
    if len(words) < 2:
        return "no words"
    letters = sum(c.isalpha() for c in body)
    if letters < 0.5 * len(body.replace(" ", "")):
        return "not text"
    low = [w.lower() for w in words]
    if len(low) >= 12 and len(set(low)) < 0.3 * len(low):
        return "repetitive"
    if any(m in text for m in ("<conversation>", "Summarize it in two short sentences", "without names or personal")):
        return "echoes the instructions"
    return None
