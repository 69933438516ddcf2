"""Read prompt files: CSV/TSV with a `content` column, or JSONL of `prompt` or `messages`.

Rows that cannot be used (empty, not UTF-8, bad roles, malformed JSON, JSON nested too
deeply or holding a number Python will not read) are skipped and counted by reason, never
silently. A CSV whose syntax breaks (a quote never closed, which would swallow the rows
after it into one prompt; a field over the csv module's 128 KiB) stops with its line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

from ..chat.types import ROLES, Message
from ..errors import UserError
from ..safe_io import check_depth, read_bytes
from .records import Dataset, Prompt, prompt_id

MAX_BAD_LINES_SHOWN = 5
NOT_ALTERNATING = "not_alternating"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _valid_text(s: str) -> bool:
    """False for undecodable bytes (kept as surrogates by the reader)."""
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _csv_rows(reader: csv.DictReader, path: Path):
    """The reader's rows; a syntax error is one line naming where its record starts."""
    while True:
        start = reader.line_num + 1
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            why = ("a quote opened there is never closed; close it, and double any quote inside a quoted field"
                   if "end of data" in str(exc) else "a field over 128 KiB, the csv module's limit; shorten it"
                   if "field limit" in str(exc) else f"{exc}; fix the row")
            raise UserError(f"{path} line {start}: not valid CSV ({why})") from None


def load_csv(path: Path, *, name: str | None = None, delimiter: str | None = None) -> Dataset:
    raw = read_bytes(path, "the dataset file", limit=None)
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    if delimiter is None:
        header = text.split("\n", 1)[0]
        delimiter = "\t" if header.count("\t") > header.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        fields = [f.strip() for f in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise UserError(f"{path} line 1: not valid CSV ({exc}); fix the header row") from None
    if "content" not in fields:
        raise UserError(f"{path}: no 'content' column (found: {', '.join(fields) or 'none'}); "
                        "add a header row with a 'content' column (optional 'category', 'subcategory')")
    reader.fieldnames = fields
    prompts: list[Prompt] = []
    skipped: Counter = Counter()
    bad_lines: list[int] = []
    for i, row in enumerate(_csv_rows(reader, path)):
        content = row.get("content") or ""
        values = [content, row.get("category") or "", row.get("subcategory") or ""]
        reason = None
        if not all(_valid_text(v) for v in values):
            reason = "not_utf8"
        elif not content.strip():
            reason = "empty"
        if reason:
            skipped[reason] += 1
            if len(bad_lines) < MAX_BAD_LINES_SHOWN:
                bad_lines.append(reader.line_num)
            continue
        messages = (Message("user", content),)
        prompts.append(Prompt(prompt_id(i, messages), messages, values[1].strip(), values[2].strip()))
    return Dataset(name or str(path), hashlib.sha256(raw).hexdigest(), prompts, skipped, bad_lines)


def _messages_from(obj: dict) -> tuple[tuple[Message, ...] | None, str | None]:
    if isinstance(obj.get("prompt"), str):
        if not obj["prompt"].strip():
            return None, "empty"
        return (Message("user", obj["prompt"]),), None
    msgs = obj.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return None, "no_prompt_or_messages"
    out = []
    for m in msgs:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            return None, "malformed_message"
        role = m.get("role")
        if role not in ROLES:
            return None, "unknown_role"
        if not m["content"].strip():
            return None, "empty"
        out.append(Message(role, m["content"]))
    if out[-1].role != "user":
        return None, "does_not_end_with_user"
    turns = out[1:] if out[0].role == "system" else out
    for i, m in enumerate(turns):
        if m.role != ("user", "assistant")[i % 2]:
            return None, NOT_ALTERNATING
    return tuple(out), None


def load_jsonl(path: Path, *, name: str | None = None) -> Dataset:
    raw = read_bytes(path, "the dataset file", limit=None)
    prompts: list[Prompt] = []
    skipped: Counter = Counter()
    bad_lines: list[int] = []
    index = 0
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        reason = None
        try:
            obj = json.loads(line.decode("utf-8"))
            check_depth(obj, f"{path} line {lineno}")
        except UnicodeDecodeError:
            reason = "not_utf8"
        except (ValueError, RecursionError, UserError):  # bad JSON, too deep, an int over 4300 digits
            reason = "malformed_json"
        else:
            if not isinstance(obj, dict):
                reason = "malformed_json"
            else:
                messages, reason = _messages_from(obj)
        if reason == NOT_ALTERNATING:  # chat templates refuse these: stop before any work, not mid-run
            raise UserError(f"{path} line {lineno}: messages must alternate user and assistant, after an optional "
                            "first system message, and end with the user; merge consecutive messages of one role")
        if reason:
            skipped[reason] += 1
            if len(bad_lines) < MAX_BAD_LINES_SHOWN:
                bad_lines.append(lineno)
            continue
        assert messages is not None  # _messages_from gives messages exactly when it gives no reason
        prompts.append(Prompt(prompt_id(index, messages), messages,
                              str(obj.get("category") or ""), str(obj.get("subcategory") or "")))
        index += 1
    return Dataset(name or str(path), hashlib.sha256(raw).hexdigest(), prompts, skipped, bad_lines)


def load_file(path: Path) -> Dataset:
    if not path.exists():
        raise UserError(f"dataset file {path} does not exist: pass a CSV or JSONL path, or a name from `bailbench datasets`")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        ds = load_jsonl(path)
    elif suffix in (".csv", ".tsv"):
        ds = load_csv(path, delimiter="\t" if suffix == ".tsv" else None)
    else:
        raise UserError(f"{path}: unknown file type {suffix or '(none)'}; use .csv/.tsv with a 'content' column or .jsonl with 'prompt' or 'messages'")
    if not ds.prompts:
        raise UserError(f"{path}: no usable rows ({_skips(ds)}); fix the file and run again")
    return ds


def _skips(ds: Dataset) -> str:
    return ", ".join(f"{n} {r}" for r, n in ds.skipped.items()) or "it is empty"
