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

Before Inspect's reader sees a file, bailbench reads it under limits (size, nesting,
length of numbers: Inspect's reader crashes or exhausts memory on some files) and lists
the samples it holds: a sample Inspect would pass over without a word (an id or epoch its
header does not list, or a second copy of one) stops the command, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse
from urllib.request import url2pathname

from ..errors import UserError
from ..safe_io import read_bytes, scan_json
from .conversations import RawConversation, StreamStats
from .files import sha256_file

MAX_LOG_BYTES = 2 * 2**30  # of a .json log, or of one member of an .eval log
MAX_LOG_DEPTH = 500  # agents' logs nest deeper than bailbench's own files; Python's parser stops near 1000


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


def _not_a_log(path: Path, exc: BaseException) -> UserError:
    first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
    return UserError(f"{path} is not an Inspect log ({first}); pass the .eval or .json file `inspect eval` wrote")


def _sample_key(sample: Any) -> tuple:
    return (sample.get("id"), sample.get("epoch")) if isinstance(sample, dict) else (None, None)


def held_samples(path: Path) -> list[tuple]:
    """(id, epoch) of every sample the file holds, read under limits: a file that would
    crash Inspect's reader or exhaust memory in it is one line here."""
    if not zipfile.is_zipfile(path):  # a .json log
        data = read_bytes(path, "an Inspect log", limit=MAX_LOG_BYTES)
        scan_json(data, str(path), MAX_LOG_DEPTH)
        try:
            log = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise _not_a_log(path, exc) from None
        samples = log.get("samples") if isinstance(log, dict) else None
        return [_sample_key(s) for s in samples or []] if isinstance(samples, list) else []
    held = []
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.file_size > MAX_LOG_BYTES:
                    raise UserError(f"{path}: its member {info.filename} is {info.file_size} bytes, too large "
                                    "for an Inspect log; the file is damaged")
                with z.open(info) as f:
                    data = f.read()  # at most its file_size, checked above
                scan_json(data, f"{path} ({info.filename})", MAX_LOG_DEPTH)
                if info.filename.startswith("samples/"):
                    held.append(_sample_key(json.loads(data)))
    except (zipfile.BadZipFile, OSError, ValueError, RecursionError) as exc:  # EOFError is an OSError here
        raise _not_a_log(path, exc) from None
    return held


def check_log(path: Path):
    """The log's header, or a UserError saying that the file is not an Inspect log, or
    that Inspect would not read some of its samples."""
    held = held_samples(path)
    _, read_eval_log, _ = _api()
    try:
        header = read_eval_log(str(path), header_only=True)
    except Exception as exc:  # zip, JSON or schema errors alike: not a log we can read
        raise _not_a_log(path, exc) from None
    ids = header.eval.dataset.sample_ids or []
    epochs = header.eval.config.epochs or 1
    listed = {(i, e) for i in ids for e in range(1, epochs + 1)}
    unread = [k for k in held if k not in listed] + [k for k in set(held) if held.count(k) > 1]
    if unread:
        i, e = unread[0]
        raise UserError(f"{path}: {len(unread)} of its {len(held)} samples would be passed over unread (e.g. "
                        f"sample {str(i)[:40]!r}, epoch {str(e)[:40]}: its header lists {len(ids)} sample ids and "
                        f"epochs 1 to {epochs}, each once); the log is damaged: run the eval again")
    return header


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
