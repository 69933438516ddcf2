"""What a tool-call reader returns, and the pieces the readers share (JSON, tagged blocks).

A reader returns the names of the calls that parse, in order, and how many calls were
opened but do not parse (cut off by the token limit, a brace missing): those are no call,
as the serving engines read them, and are counted apart (DESIGN §1, `truncated_calls`).
Only a call's own top-level name counts: a "name" inside its arguments is not a call.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Iterator

_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Calls:
    names: tuple[str, ...] = ()
    truncated: int = 0

    def __add__(self, other: Calls) -> Calls:
        return Calls(self.names + other.names, self.truncated + other.truncated)


NONE = Calls()
CUT = Calls(truncated=1)


def call(name: str) -> Calls:
    return Calls((name,))


def total(parts) -> Calls:
    out = NONE
    for p in parts:
        out += p
    return out


def json_at(text: str, i: int = 0) -> tuple[object, int] | None:
    """The JSON value starting at `i` (after whitespace) and where it ends, or None."""
    while i < len(text) and text[i].isspace():
        i += 1
    try:
        return _DECODER.raw_decode(text, i)
    except json.JSONDecodeError:
        return None


def json_values(text: str, separators: str = ",;") -> list:
    """The JSON objects and arrays a text starts with, one after another (separated by
    whitespace or `separators`). A value is never looked for inside another."""
    values: list = []
    i = 0
    while True:
        while i < len(text) and (text[i].isspace() or text[i] in separators):
            i += 1
        if i >= len(text) or text[i] not in "{[":
            return values
        got = json_at(text, i)
        if got is None:
            values.append(None)  # a value that does not parse: the call is cut off or malformed
            return values
        values.append(got[0])
        i = got[1]


def names_in(value, key: str = "name") -> list[str] | None:
    """Names of the calls in a decoded call or list of calls; None when something in it is
    not a call (an object without a string name)."""
    if isinstance(value, list):
        out: list[str] = []
        for v in value:
            got = names_in(v, key)
            if got is None:
                return None
            out += got
        return out
    if isinstance(value, dict):
        if isinstance(value.get("function"), dict):  # OpenAI-shaped {"type": "function", "function": {...}}
            return names_in(value["function"], key)
        if isinstance(value.get(key), str):
            return [value[key]]
    return None


def json_calls(body: str, key: str = "name") -> Calls:
    """A body that must hold JSON calls (an object, a list, or several): their names, or
    one call cut off when nothing in it parses as a call."""
    names = names_in(json_values(body), key)
    return Calls(tuple(names)) if names else CUT


def object_after(text: str, i: int) -> bool:
    """Whether a JSON object parses at `i` (a call's arguments)."""
    got = json_at(text, i)
    return got is not None and isinstance(got[0], dict)


def blocks(text: str, opening: str, closing: str | None) -> Iterator[tuple[re.Match, str, bool]]:
    """Each block opened by the regex `opening`: the opening match, its body up to the regex
    `closing` (or the next opening, or the end), and whether `closing` was found."""
    starts = list(re.finditer(opening, text))
    for k, m in enumerate(starts):
        stop = starts[k + 1].start() if k + 1 < len(starts) else len(text)
        body = text[m.end():stop]
        c = re.search(closing, body) if closing else None
        yield (m, body[:c.start()], True) if c else (m, body, closing is None)


def named_blocks(text: str, opening: str, closing: str) -> Calls:
    """Calls whose name the opening regex captures (group 1): a call when its closing
    follows before the next opening, else one cut off."""
    return total(call(m.group(1).strip()) if closed else CUT for m, _, closed in blocks(text, opening, closing))


def pythonic_names(text: str) -> list[str] | None:
    """`[f(a=1), g()]` at the start of a text: the functions' names (Llama 4, LFM2), or None."""
    for end in (i for i, ch in enumerate(text) if ch == "]"):
        try:
            tree = ast.parse(text[: end + 1].strip(), mode="eval")
        except (SyntaxError, ValueError):  # ValueError: a NUL byte in the source
            continue
        if isinstance(tree.body, ast.List) and tree.body.elts and all(isinstance(c, ast.Call) for c in tree.body.elts):
            return [ast.unparse(c.func) for c in tree.body.elts]  # type: ignore[attr-defined]
        return None
    return None


PYTHONIC_START = re.compile(r"\s*\[\s*[A-Za-z_][\w.]*\s*\(")
IDENTIFIER = re.compile(r"[A-Za-z_][\w.\-]*")
