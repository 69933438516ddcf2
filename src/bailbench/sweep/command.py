"""The `sweep` and `reproduce` commands; `register(app)` adds them to the `bailbench` CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .. import console
from ..errors import ServiceError, UserError


def _fail(message: str, code: int = 2) -> None:
    console.err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def sweep(
    file: Path = typer.Argument(..., help="Experiment file (TOML); see experiments/."),
    engine: str = typer.Option("local", help="local (this process) or ray (a Ray cluster's workers)."),
    plan: bool = typer.Option(False, "--plan", help="Print every run, its samples and estimated cost; run nothing."),
    out: Optional[Path] = typer.Option(None, help="Sweep directory [sweeps/<experiment name>]; rerun into it to resume."),
    ray_address: Optional[str] = typer.Option(None, help="ray: address of a running cluster [a local one is started]."),
    gpus: int = typer.Option(1, help="--plan: GPUs the GPU work is spread over for the wall-time estimate."),
    throughput: Optional[float] = typer.Option(None, help="--plan: samples/s of one worker, for models with no "
                                                           "measured figure."),
) -> None:
    """Run an experiment file: every run it describes, resuming what is stored; writes sweep.json."""
    from .driver import plan as plan_sweep
    from .driver import run_sweep
    from .tables import plan_table

    try:
        if plan:
            exp, sweep_dir, runs, est = plan_sweep(file, out, gpus, throughput)
            console.out.print(plan_table(exp.name, runs, est))
            console.out.print(f"sweep directory: {sweep_dir}")
            return
        result = run_sweep(file, engine=engine, out=out, ray_address=ray_address)
    except UserError as exc:
        _fail(str(exc))
    except ServiceError as exc:
        _fail(str(exc), 1)
    c = result.counts
    console.out.print(f"sweep {result.experiment.name}: {c['done']} of {len(result.runs)} runs done"
                      + "".join(f", {n} {k}" for k, n in c.items() if k != "done" and n)
                      + f"; {result.new_samples} new samples in {result.seconds:.0f} s")
    console.out.print(f"sweep directory: {result.out} (index: {result.out / 'sweep.json'})")
    if c["done"] < len(result.runs):
        console.out.print("runs not done are listed with their reason in sweep.json; rerun the same command to "
                          "resume")
    console.out.print(f"next: bailbench reproduce {result.out}; bailbench report {result.out}")
    if c["done"] < len(result.runs):
        raise typer.Exit(1)


def reproduce(
    dirs: list[Path] = typer.Argument(..., help="Run or sweep directories."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the table data to this JSON file."),
) -> None:
    """Measured bail rates beside the paper's plotted numbers, and whether each lies in the run's 95% interval."""
    from ..analysis.reproduce import reproduce as compare_with_paper
    from .index import expand_run_dirs
    from .tables import reproduce_tables

    try:
        paths = expand_run_dirs(dirs)
        for p in paths:
            if not (p / "summary.json").is_file():
                raise UserError(f"{p} is not a finished run (no summary.json); pass a run or sweep directory")
        data = compare_with_paper(paths)
    except UserError as exc:
        _fail(str(exc))
    for table in reproduce_tables(data):
        console.out.print(table)
    console.out.print(f"paper numbers: {data['source']}", markup=False, highlight=False)
    if json_out:
        json_out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")


def register(app: typer.Typer) -> None:
    app.command()(sweep)
    app.command()(reproduce)
