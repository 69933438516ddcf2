"""How long a run will take, from what this machine measured: the units/s of earlier runs
of the same model and settings (kept in the cache), else of the run's own first batch.
Long runs say so before they start, so nobody learns after an hour that it takes a day."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .paths import cache_dir

LONG = 600.0  # seconds: runs estimated longer than this print their estimate


def _file() -> Path:
    return cache_dir() / "throughput.json"


def _read() -> dict:
    try:
        return json.loads(_file().read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def rate(key: str) -> float | None:
    """Units per second measured here before for this key, if any."""
    entry = _read().get(key)
    return entry["units"] / entry["seconds"] if entry and entry.get("seconds") else None


def record(key: str, units: int, seconds: float) -> None:
    """Add a run's measurement (atomically; a cache that cannot be written is no error)."""
    if units <= 0 or seconds <= 0:
        return
    data = _read()
    entry = data.setdefault(key, {"units": 0, "seconds": 0.0})
    entry["units"] += units
    entry["seconds"] += seconds
    try:
        _file().parent.mkdir(parents=True, exist_ok=True)
        tmp = _file().with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), "utf-8")
        os.replace(tmp, _file())
    except OSError:
        pass


def describe(units: int, per_second: float, where: str) -> str:
    seconds = units / per_second
    h, m = divmod(round(seconds / 60), 60)
    span = f"{h} h {m} min" if h else f"{m} min"
    return f"estimated duration: about {span} ({units} samples at {per_second:.2f}/s, measured {where})"
