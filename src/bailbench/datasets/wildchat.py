"""WildChat through the `datasets` library, streamed: allenai/WildChat-1M from the hub, or
local parquet files in its format. English only means every turn's language tag is
English (the row's tag where a turn has none); the authors' loader computed this filter
and then returned the unfiltered data, so this one applies it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..errors import UserError
from .conversations import RawConversation

HUB_ID = "allenai/WildChat-1M"


def is_english(row: dict) -> bool:
    turns = row.get("conversation") or []
    return bool(turns) and all((t.get("language") or row.get("language")) == "English" for t in turns)


def read_wildchat(source: str | Path | None, *, english_only: bool = True) -> Iterator[RawConversation]:
    try:
        import datasets
    except ImportError as exc:
        raise UserError("WildChat needs the datasets library: pip install 'bailbench[realdata]'") from exc
    try:
        if source is None:
            rows = datasets.load_dataset(HUB_ID, split="train", streaming=True)
        else:
            files = sorted(str(p) for p in Path(source).glob("*.parquet")) if Path(source).is_dir() else [str(source)]
            rows = datasets.load_dataset("parquet", data_files=files, split="train", streaming=True)
    except Exception as exc:  # the hub's errors come in many types
        raise UserError(f"could not open WildChat ({str(exc).splitlines()[0][:160]}); on a machine without network "
                        "pass local parquet files in its format: --dataset PATH.parquet or a folder of them") from None
    for row in rows:
        cid = str(row.get("conversation_hash") or "")
        if english_only and not is_english(row):
            yield RawConversation(cid, [], skip="not_english")
            continue
        yield RawConversation(cid, [(t.get("role"), t.get("content")) for t in row.get("conversation") or []])
