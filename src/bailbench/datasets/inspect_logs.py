"""Real conversations from Inspect AI logs (`bailbench realdata --dataset inspect:LOG_OR_DIR`).

Every (sample, epoch) of every log, of any task, is one conversation: its final message
history (`sample.messages`), read in stream order, one sample at a time. Only text
reaches bailbench, and the alternation rules of `conversations.py` apply as to any other
source; what is dropped here is counted in `conversations.fixes` of summary.json:

- tool results (`role: tool`) are dropped (`dropped_tool_messages`): they are neither
  the user's words nor the assistant's, and the other datasets have no such role;
- tool calls in an assistant message are dropped (`dropped_tool_calls`), its text kept;
  an assistant turn that was only a call is then empty and dropped by the rules, and the
  assistant texts around a dropped tool exchange merge into one turn;
- content parts that are not text (images, audio, reasoning, documents ...) are dropped
  (`dropped_non_text_parts`); the text parts of a message are joined by newlines, as
  Inspect's `ChatMessage.text` joins them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse
from urllib.request import url2pathname

from ..errors import UserError
from .conversations import RawConversation, StreamStats
from .files import sha256_file


def _api():
    try:
        from inspect_ai.log import list_eval_logs, read_eval_log, read_eval_log_samples
    except ImportError as exc:
        raise UserError("Inspect logs need Inspect AI: pip install 'bailbench[inspect]'") from exc
    return list_eval_logs, read_eval_log, read_eval_log_samples


def _local(name: str) -> Path:
    return Path(url2pathname(urlparse(name).path)) if name.startswith("file:") else Path(name)


def log_paths(path: Path) -> list[Path]:
    """A log file, or the logs under a folder (as `inspect view` lists them), oldest first."""
    list_eval_logs, _, _ = _api()
    path = Path(path).expanduser()
    if path.is_dir():
        found = [_local(info.name) for info in list_eval_logs(str(path.resolve()), descending=False)]
        if not found:
            raise UserError(f"{path} holds no Inspect logs (*.eval, *.json); pass a log file or the folder "
                            "`inspect eval` wrote them to")
        return found
    if not path.is_file():
        raise UserError(f"{path} does not exist; pass an Inspect log file (*.eval, *.json) or a folder of them")
    return [path]


def check_log(path: Path):
    """The log's header, or a UserError saying that the file is not an Inspect log."""
    _, read_eval_log, _ = _api()
    try:
        return read_eval_log(str(path), header_only=True)
    except Exception as exc:  # zip, JSON or schema errors alike: not a log we can read
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not an Inspect log ({first}); pass the .eval or .json file "
                        "`inspect eval` wrote") from None


def message_pair(message, stats: StreamStats) -> tuple[str, str] | None:
    """(role, text) of an Inspect chat message; None for a tool result."""
    if message.role == "tool":
        stats.fixes["dropped_tool_messages"] += 1
        return None
    calls = getattr(message, "tool_calls", None) or []
    if calls:
        stats.fixes["dropped_tool_calls"] += len(calls)
    if not isinstance(message.content, str):
        other = sum(part.type != "text" for part in message.content)
        if other:
            stats.fixes["dropped_non_text_parts"] += other
    return message.role, message.text


def _conversations(files: list[Path], stats: StreamStats) -> Iterator[RawConversation]:
    _, _, read_eval_log_samples = _api()
    for f in files:
        try:
            samples = read_eval_log_samples(str(f), all_samples_required=False, resolve_attachments="core",
                                            exclude_fields={"events"})
            for sample in samples:
                pairs = [p for p in (message_pair(m, stats) for m in sample.messages) if p is not None]
                yield RawConversation(f"{f.name}#{sample.id}@{sample.epoch}", pairs)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"{f}: its samples cannot be read ({str(exc).strip()[:120] or type(exc).__name__})") from None


def read_inspect_logs(path: Path, stats: StreamStats) -> tuple[str, str, Iterator[RawConversation]]:
    """(dataset name, identity: a hash of the logs' contents, conversation stream).
    Every file is checked to be an Inspect log before anything runs."""
    files = log_paths(path)
    for f in files:
        check_log(f)
    digest = hashlib.sha256("\n".join(f"{f.name}:{sha256_file(f)}" for f in files).encode()).hexdigest()
    return Path(path).name or str(path), f"inspect:{digest}", _conversations(files, stats)
