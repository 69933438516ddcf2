"""gpt-oss's harmony format, read with OpenAI's `openai-harmony` (`pip install 'bailbench[harmony]'`).

A call is a message addressed to `functions.NAME` (in its header: `to=functions.NAME`), in
the commentary or analysis channel, ended by `<|call|>`; its content is the JSON arguments.
The package parses the completion's tokens; it needs its tokenizer vocabulary, which it
downloads once (or finds through TIKTOKEN_ENCODINGS_BASE). Where that is out of reach (an
offline machine) the same message grammar is read from the text, as llama.cpp does.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..errors import UserError
from .calls import CUT, NONE, Calls, call, json_at, total

INSTALL = "reading gpt-oss (harmony) tool calls needs openai-harmony: pip install 'bailbench[harmony]'"
_RECIPIENT = re.compile(r"to=functions\.([^\s<]+)")


@lru_cache(maxsize=1)
def encoding():
    """The harmony encoding, or None where its vocabulary cannot be loaded."""
    try:
        import openai_harmony as h
    except ImportError:
        raise UserError(INSTALL) from None
    try:
        return h.load_harmony_encoding(h.HarmonyEncodingName.HARMONY_GPT_OSS)
    except h.HarmonyError:
        return None


def read_harmony(text: str) -> Calls:
    enc = encoding()
    if enc is not None:
        import openai_harmony as h

        try:
            return _read_tokens(h, enc, text)
        except h.HarmonyError:  # tokens the parser rejects: read the text as written
            pass
    return read_harmony_text(text)


def _read_tokens(h, enc, text: str) -> Calls:
    parser = h.StreamableParser(enc, h.Role.ASSISTANT, strict=False)
    for token in enc.encode(text, allowed_special="all"):
        parser.process(token)
    out = total(_message(m.recipient, "".join(c.text for c in m.content), True) for m in parser.messages)
    if parser.current_recipient:  # a message still open when the reply stopped
        out += _message(parser.current_recipient, parser.current_content, False)
    return out


def _message(recipient: str | None, content: str, ended: bool) -> Calls:
    """A message to `functions.NAME` is a call when its content is one complete JSON object, or
    empty in a message its `<|call|>` ended (a call without arguments; vLLM's `openai` parser
    reads both). `<|call|>` is not required after a complete object: it is a stop token that
    servers and decoders often drop, and llama.cpp reads a complete call at the end of the reply
    without it (tests/test-chat.cpp, GPT-OSS). Arguments cut off or not JSON are no call."""
    if not recipient or not recipient.startswith("functions."):
        return NONE
    got = json_at(content)
    ok = (got is not None and isinstance(got[0], dict) and not content[got[1]:].strip()) or (
        ended and not content.strip())
    return call(recipient.removeprefix("functions.")) if ok else CUT


def read_harmony_text(text: str) -> Calls:
    """The harmony messages of a reply read from its text: each header up to `<|message|>`,
    its content up to `<|end|>`, `<|call|>` or `<|return|>`."""
    out = NONE
    for message in re.split(r"<\|start\|>", text):
        header, sep, rest = message.partition("<|message|>")
        m = _RECIPIENT.search(header)
        if not sep or not m:
            out += CUT if m else NONE
            continue
        end = re.search(r"<\|(?:end|call|return)\|>", rest)
        out += _message("functions." + m.group(1), rest[: end.start()] if end else rest, end is not None)
    return out
