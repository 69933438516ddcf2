"""Where every context comes from: one registry of sources, for prompt runs (`--dataset` of
`run`: prompts) and for real conversations (`--dataset` of `realdata`: conversations).

Each kind has its named sources, its prefixed ones (`inspect:LOG`) and its file types, in
one table each; the error messages are made from the tables, so a new source is one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..errors import UserError
from .conversations import RawConversation, StreamStats, read_jsonl
from .files import load_file, sha256_file
from .records import Dataset
from .released import RELEASED, load_released

# -- prompts ----------------------------------------------------------------------------------

PROMPT_FILES = (".csv", ".tsv", ".jsonl", ".ndjson")  # what `files.load_file` reads


def load_dataset(spec: str, data_dir: str | Path | None = None) -> Dataset:
    if spec in RELEASED:
        return load_released(spec, data_dir)
    path = Path(spec).expanduser()
    if path.suffix or path.exists() or "/" in spec:
        return load_file(path)
    raise UserError(f"unknown dataset {spec!r}: use one of {', '.join(RELEASED)} or a path to a "
                    f"{'/'.join(PROMPT_FILES)} file")


# -- conversations ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ConversationSource:
    name: str  # as the summary names it
    ident: str  # what the run's identity holds: the files' hashes, or the hub id
    raw: Iterator[RawConversation]


def _files_ident(files: list[Path]) -> str:
    return ",".join(f"{f.name}:{sha256_file(f)}" for f in files)


def _sharegpt(english_only: bool, stats: StreamStats) -> ConversationSource:
    from .sharegpt import read_sharegpt, sharegpt_files

    files = sharegpt_files()
    return ConversationSource("sharegpt", _files_ident(files), (r for f in files for r in read_sharegpt(f, stats)))


def _wildchat(english_only: bool, stats: StreamStats) -> ConversationSource:
    from .wildchat import HUB_ID, read_wildchat

    return ConversationSource("wildchat", HUB_ID, read_wildchat(None, english_only=english_only))


def _inspect(path: Path, stats: StreamStats) -> ConversationSource:
    """The message histories of any Inspect AI log (a file or a folder of them)."""
    from .inspect_logs import read_inspect_logs

    return ConversationSource(*read_inspect_logs(path, stats))


def _parquet(path: Path, english_only: bool, stats: StreamStats) -> ConversationSource:
    from .wildchat import read_wildchat

    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    return ConversationSource(path.name, _files_ident(files), read_wildchat(path, english_only=english_only))


def _jsonl(path: Path, english_only: bool, stats: StreamStats) -> ConversationSource:
    return ConversationSource(path.name, sha256_file(path), read_jsonl(path, stats))


def _sharegpt_file(path: Path, english_only: bool, stats: StreamStats) -> ConversationSource:
    from .sharegpt import read_sharegpt

    return ConversationSource(path.name, sha256_file(path), read_sharegpt(path, stats))


NAMED_CONVERSATIONS: dict[str, Callable[[bool, StreamStats], ConversationSource]] = {
    "sharegpt": _sharegpt, "wildchat": _wildchat}
PREFIXED_CONVERSATIONS: dict[str, Callable[[Path, StreamStats], ConversationSource]] = {"inspect:": _inspect}
# A folder is read as a folder of parquet files (WildChat's layout).
CONVERSATION_FILES: dict[str, tuple[str, Callable[[Path, bool, StreamStats], ConversationSource]]] = {
    ".json": ("ShareGPT", _sharegpt_file),
    ".jsonl": ('lines of {"messages": [...]}', _jsonl),
    ".parquet": ("WildChat format", _parquet),
}


def conversation_choices() -> str:
    named = ", ".join([*NAMED_CONVERSATIONS, *(f"{p}LOG" for p in PREFIXED_CONVERSATIONS)])
    kinds = ", ".join(f"{s} ({what})" for s, (what, _) in CONVERSATION_FILES.items())
    return f"{named}, or a {kinds} path"


def open_conversations(spec: str, english_only: bool, stats: StreamStats) -> ConversationSource:
    if spec in NAMED_CONVERSATIONS:
        return NAMED_CONVERSATIONS[spec](english_only, stats)
    for prefix, opener in PREFIXED_CONVERSATIONS.items():
        if spec.startswith(prefix):
            return opener(Path(spec.removeprefix(prefix)).expanduser(), stats)
    path = Path(spec).expanduser()
    if not path.exists():
        raise UserError(f"dataset {spec!r} not found: use {conversation_choices()}")
    suffix = ".parquet" if path.is_dir() else path.suffix.lower()
    if suffix not in CONVERSATION_FILES:
        raise UserError(f"{path}: unknown conversation file type; use {', '.join(CONVERSATION_FILES)} "
                        "(or a folder of .parquet files)")
    return CONVERSATION_FILES[suffix][1](path, english_only, stats)
