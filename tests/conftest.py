"""Shared fixtures. Tests read the released data from ../shared (never committed here)."""

from __future__ import annotations

import os

import pytest

from .helpers import DATA

os.environ.setdefault("BAILBENCH_DATA_DIR", str(DATA))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """No test writes to the user's cache."""
    monkeypatch.setenv("BAILBENCH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def embedded():
    """The real embedded model (SmolLM2-135M-Instruct GGUF) through llama.cpp, loaded once."""
    from bailbench.backends.registry import BackendOptions, load_backend

    return load_backend("smollm2", BackendOptions(n_ctx=4096))
