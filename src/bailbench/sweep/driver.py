"""`bailbench sweep`: plan an experiment file's runs, run what is not finished, index them."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..safe_io import lock_dir, refuse_link, unlock_dir
from .cost import Estimate, estimate
from .engine import Engine, execute
from .index import Index, claim, read_index, stored_samples
from .plan import RUNS_DIR, PlannedRun, expand
from .progress import SweepProgress
from .spec import Experiment, load_experiment

ENGINES = ("local", "ray")


@dataclass
class SweepResult:
    out: Path
    experiment: Experiment
    runs: list[PlannedRun]
    counts: dict[str, int]
    new_samples: int
    seconds: float


def default_out(exp: Experiment) -> Path:
    """sweeps/<the name as a file name>: never `.`, `..` or empty, so always a folder of its own."""
    return Path("sweeps") / (re.sub(r"[^A-Za-z0-9._-]+", "-", exp.name).strip(".-") or "experiment")


def prepare(path: Path, out: Path | None) -> tuple[Experiment, Path, list[PlannedRun]]:
    exp = load_experiment(path)
    sweep_dir = out or default_out(exp)
    return exp, sweep_dir, expand(exp, sweep_dir)


def plan(path: Path, out: Path | None = None, gpus: int = 1,
         throughput: float | None = None) -> tuple[Experiment, Path, list[PlannedRun], Estimate]:
    """The runs and their cost, changing nothing on disk."""
    exp, sweep_dir, runs = prepare(path, out)
    previous = read_index(sweep_dir) or {}
    if previous and previous["experiment"]["name"] != exp.name:
        raise UserError(f"{sweep_dir} holds the sweep of experiment {previous['experiment']['name']!r}, "
                        f"not {exp.name!r}; choose another --out")
    stored = {r.id: stored_samples(sweep_dir / "runs" / r.id) for r in runs}
    return exp, sweep_dir, runs, estimate(runs, stored, previous, gpus, throughput)


def run_sweep(path: Path, *, engine: str = "local", out: Path | None = None, ray_address: str | None = None,
              quiet: bool = False, object_store_memory: int | None = 200 * 1024**2) -> SweepResult:
    """Run (or resume) every run of an experiment file into one sweep directory."""
    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}: use local or ray")
    exp, sweep_dir, runs = prepare(path, out)
    previous = claim(sweep_dir, exp)
    refuse_link(sweep_dir / RUNS_DIR)  # the runs go inside the sweep, not where a planted link points
    lock = lock_dir(sweep_dir)  # one sweep process per directory
    try:
        return _run(exp, sweep_dir, runs, previous, engine, ray_address, quiet, object_store_memory)
    finally:
        unlock_dir(lock)


def _run(exp: Experiment, sweep_dir: Path, runs: list[PlannedRun], previous: dict, engine: str,
         ray_address: str | None, quiet: bool, object_store_memory: int | None) -> SweepResult:
    index = Index(sweep_dir, exp, runs, engine, previous)
    stored = {r.id: min(stored_samples(sweep_dir / "runs" / r.id), r.samples or 0) for r in runs}
    total = sum(r.samples or 0 for r in runs if not r.estimated)
    progress = SweepProgress(exp.name, len(runs), total, sum(v for r in runs if not r.estimated
                                                           for v in [stored[r.id]]), quiet=quiet)
    runner: Engine
    if engine == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise UserError("--engine ray needs Ray: pip install 'bailbench[ray]'") from exc
        from .ray_engine import RayEngine

        runner = RayEngine(runs, progress, index, ray_address, object_store_memory)
    else:
        from .local import LocalEngine

        runner = LocalEngine(runs, progress)
    timed = _Timed(runner, index, engine)
    t0 = time.monotonic()
    try:
        counts = execute(runs, index, progress, timed)
    finally:
        progress.stop()
        runner.close()
    index.set("finished", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return SweepResult(sweep_dir, exp, runs, counts, progress.new, time.monotonic() - t0)


class _Timed:
    """Records each run's new samples and wall time in the index: the measured throughput
    that `--plan` uses next time."""

    def __init__(self, runner, index: Index, engine: str):
        self.runner, self.index, self.engine = runner, index, engine

    def __call__(self, r: PlannedRun) -> dict:
        t0 = time.monotonic()
        summary = self.runner(r)
        new = summary.get("new_samples") or 0
        if new and r.kind == "bailbench":
            self.index.update(r.id, measured={"new_samples": new, "seconds": round(time.monotonic() - t0, 3),
                                              "workers": r.model.workers if self.engine == "ray" else 1})
        return summary
