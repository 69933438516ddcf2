"""Where bailbench keeps what it downloads or caches."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`BAILBENCH_CACHE_DIR`, default ~/.cache/bailbench."""
    return Path(os.environ.get("BAILBENCH_CACHE_DIR") or Path.home() / ".cache" / "bailbench").expanduser()
