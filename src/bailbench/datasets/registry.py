"""Resolve `--dataset NAME|PATH` to a loaded `Dataset`."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .files import load_file
from .records import Dataset
from .released import RELEASED, load_released


def load_dataset(spec: str, data_dir: str | Path | None = None) -> Dataset:
    if spec in RELEASED:
        return load_released(spec, data_dir)
    path = Path(spec).expanduser()
    if path.suffix or path.exists() or "/" in spec:
        return load_file(path)
    raise UserError(f"unknown dataset {spec!r}: use one of {', '.join(RELEASED)} or a path to a .csv/.jsonl file")
