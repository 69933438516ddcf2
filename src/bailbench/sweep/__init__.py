"""Experiments as files: a TOML experiment expands into runs in the usual run-store format,
run locally or on a Ray cluster, indexed in the sweep directory's sweep.json."""

from .index import expand_run_dirs, run_dirs

__all__ = ["expand_run_dirs", "run_dirs"]
