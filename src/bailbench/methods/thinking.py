"""Remove reasoning so that nothing a model thinks counts as a bail (DESIGN §1 "Thinking").

The one implementation of the rule, used by every method's reader, the refusal
classifiers, the judge and the false-bail filter.
"""

from __future__ import annotations

import re

_OPEN = re.compile(r"<(?:think|thinking)>", re.IGNORECASE)
_CLOSE = re.compile(r"</(?:think|thinking)>", re.IGNORECASE)


def strip_thinking(text: str, protocol: str = "default") -> str:
    """The answer part of a reply.

    Tags match in any case at both ends. Everything up to the last closing tag is
    dropped. An opening tag left unclosed is reasoning cut off by the token limit only
    when it opens the reply (nothing but whitespace before it): then the reply holds no
    answer and nothing is left. An unclosed opening tag after other text is just text.
    """
    if protocol == "paper":  # the authors' reader: case-sensitive cuts, an unclosed tag kept as text
        return text.split("</thinking>")[-1].split("</think>")[-1]
    last = None
    for last in _CLOSE.finditer(text):
        pass
    if last is not None:
        return text[last.end():]
    m = _OPEN.search(text)
    if m and not text[: m.start()].strip():
        return ""
    return text
