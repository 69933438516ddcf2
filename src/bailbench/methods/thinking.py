"""Remove reasoning so that nothing a model thinks counts as a bail."""

from __future__ import annotations

import re

_OPEN = re.compile(r"<(think|thinking)>", re.IGNORECASE)


def strip_thinking(text: str) -> str:
    """Drop everything up to the last `</think>` or `</thinking>` (as the authors do).

    A reasoning block that was opened but never closed (the reply was cut off while
    thinking) is dropped too: it holds no answer.
    """
    for closing in ("</thinking>", "</think>"):
        idx = text.rfind(closing)
        if idx != -1:
            text = text[idx + len(closing):]
    m = _OPEN.search(text)
    if m:
        text = text[: m.start()]
    return text
