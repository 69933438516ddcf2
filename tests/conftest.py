"""Shared fixtures. Tests read the released data from ../shared (never committed here)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .helpers import DATA

os.environ.setdefault("BAILBENCH_DATA_DIR", str(DATA))
# Module- and session-scoped fixtures load before the per-test cache below: they get this one.
# The GGUF conversions (backends/gguf_convert: deterministic, 45 s each) are shared by every test.
SESSION_CACHE = Path(tempfile.mkdtemp(prefix="bailbench-test-cache-"))
(SESSION_CACHE / "converted").mkdir()
os.environ["BAILBENCH_CACHE_DIR"] = str(SESSION_CACHE)
atexit.register(shutil.rmtree, SESSION_CACHE, True)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """No test writes to the user's cache, nor sees another test's (but for the conversions)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "converted").symlink_to(SESSION_CACHE / "converted")
    monkeypatch.setenv("BAILBENCH_CACHE_DIR", str(cache))


@pytest.fixture(scope="session")
def embedded():
    """The real embedded model (SmolLM2-135M-Instruct GGUF) through llama.cpp, loaded once."""
    from bailbench.backends.registry import BackendOptions, load_backend

    return load_backend("smollm2", BackendOptions(n_ctx=4096))
