"""Real conversations, streamed: normalised to alternating user/assistant turns, with
every change and every skipped conversation counted by reason.

Alternation rules, applied in this order to each conversation:
1. a role that is not user/assistant/system (after mapping human/gpt/chatgpt/bing/bard/
   model) skips the conversation (`unknown_role`), as does a message that is not text
   (`malformed_message`) or one longer than `max_chars` (`enormous_message`);
2. empty messages are dropped (`dropped_empty_messages`);
3. a system message is kept only as the first message (`dropped_system_messages`);
4. assistant messages before the first user message are dropped (`dropped_leading_assistant`);
5. consecutive messages of one role are merged, joined by a blank line (`merged_messages`);
6. a conversation with no user message left is skipped (`system_only` when it held only
   system text, `empty` when it held nothing, else `no_user_turn`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..chat.types import Message
from ..errors import UserError
from ..safe_io import check_depth
from .records import prompt_id

ROLE_MAP = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "chatgpt": "assistant",
            "bing": "assistant", "bard": "assistant", "model": "assistant", "system": "system"}
MAX_CHARS = 100_000


@dataclass(frozen=True)
class Conversation:
    id: str  # position in the source + content hash: unique and stable
    source_id: str  # the dataset's own id, for reference
    messages: tuple[Message, ...]

    def user_turns(self) -> list[int]:
        return [i for i, m in enumerate(self.messages) if m.role == "user"]


@dataclass(frozen=True)
class RawConversation:
    """What a loader read: roles and contents as they were, and any reason to skip it."""

    source_id: str
    messages: Sequence[tuple[object, object]]
    skip: str | None = None


@dataclass
class StreamStats:
    read: int = 0
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> conversations
    fixes: Counter = field(default_factory=Counter)  # what alternation changed -> messages
    lost: Counter = field(default_factory=Counter)  # e.g. records cut off at the end of a file
    bad_lines: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"read": self.read, "kept": self.kept, "skipped": dict(self.skipped), "fixes": dict(self.fixes),
                "lost": dict(self.lost), "bad_lines": self.bad_lines}


def normalize(raw: Sequence[tuple[object, object]], fixes: Counter, *, max_chars: int = MAX_CHARS
              ) -> tuple[tuple[Message, ...] | None, str | None]:
    """(messages, None) or (None, reason): the rules of the module docstring."""
    if not raw:
        return None, "empty"
    msgs: list[tuple[str, str]] = []
    for role, content in raw:
        mapped = ROLE_MAP.get(str(role).lower()) if isinstance(role, str) else None
        if mapped is None:
            return None, "unknown_role"
        if not isinstance(content, str):
            return None, "malformed_message"
        if len(content) > max_chars:
            return None, "enormous_message"
        msgs.append((mapped, content))
    kept = [(r, c) for r, c in msgs if c.strip()]
    if len(kept) < len(msgs):
        fixes["dropped_empty_messages"] += len(msgs) - len(kept)
    out: list[tuple[str, str]] = []
    for i, (r, c) in enumerate(kept):
        if r == "system" and i > 0:
            fixes["dropped_system_messages"] += 1
            continue
        if r == "assistant" and not any(x == "user" for x, _ in out):
            fixes["dropped_leading_assistant"] += 1
            continue
        if out and out[-1][0] == r:
            out[-1] = (r, out[-1][1] + "\n\n" + c)
            fixes["merged_messages"] += 1
            continue
        out.append((r, c))
    if not any(r == "user" for r, _ in out):
        if not kept:
            return None, "empty"
        return None, "system_only" if all(r == "system" for r, _ in kept) else "no_user_turn"
    return tuple(Message(r, c) for r, c in out), None


def in_fraction(key: str, fraction: float) -> bool:
    """A stable share of a dataset: by a hash of the conversation's id."""
    if fraction >= 1.0:
        return True
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0x100000000 < fraction


def stream(raws: Iterable[RawConversation], stats: StreamStats, *, fraction: float = 1.0,
           max_chars: int = MAX_CHARS) -> Iterator[Conversation]:
    for index, raw in enumerate(raws):
        stats.read += 1
        if not in_fraction(raw.source_id or str(index), fraction):
            stats.skipped["outside_fraction"] += 1
            continue
        if raw.skip:
            stats.skipped[raw.skip] += 1
            continue
        messages, reason = normalize(raw.messages, stats.fixes, max_chars=max_chars)
        if reason:
            stats.skipped[reason] += 1
            continue
        assert messages is not None  # normalize gives messages exactly when it gives no reason
        stats.kept += 1
        yield Conversation(prompt_id(index, messages), raw.source_id, messages)


def read_jsonl(path: Path, stats: StreamStats) -> Iterator[RawConversation]:
    """Lines of {"messages": [{"role", "content"}, ...]} (an "id" is kept if present)."""
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
                check_depth(obj, f"{path} line {lineno}")
                msgs = obj["messages"]
                pairs = [(m.get("role"), m.get("content")) for m in msgs]
            # ValueError: bad UTF-8 or JSON, an int over 4300 digits; UserError: nested too deeply
            except (ValueError, RecursionError, UserError, KeyError, TypeError, AttributeError):
                if len(stats.bad_lines) < 5:
                    stats.bad_lines.append(lineno)
                yield RawConversation(f"line {lineno}", [], skip="malformed_line")
                continue
            yield RawConversation(str(obj.get("id") or f"line {lineno}"), pairs)
