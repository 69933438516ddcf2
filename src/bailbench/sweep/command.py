"""The `sweep` and `reproduce` commands; `register(app)` adds them to the `bailbench` CLI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from .. import console
from ..errors import ServiceError, UserError
from ..safe_io import write_json

if TYPE_CHECKING:
    from .plan import PlannedRun


def _fail(message: str, code: int = 2) -> None:
    console.err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def sweep(
    file: Path = typer.Argument(..., help="Experiment file (TOML); see experiments/."),
    engine: str = typer.Option("local", help="local (this process) or ray (a Ray cluster's workers)."),
    plan: bool = typer.Option(False, "--plan", help="Print every run, its samples and estimated cost, and the power "
                                                    "of each model's prompts x samples; run nothing."),
    out: Optional[Path] = typer.Option(None, help="Sweep directory [sweeps/<experiment name>]; rerun into it to resume."),
    ray_address: Optional[str] = typer.Option(None, help="ray: address of a running cluster [a local one is started]."),
    gpus: int = typer.Option(1, help="--plan: GPUs the GPU work is spread over for the wall-time estimate."),
    throughput: Optional[float] = typer.Option(None, help="--plan: samples/s of one worker, for models with no "
                                                           "measured figure."),
    pilot: Optional[Path] = typer.Option(None, help="--plan: a finished run whose rates and intra-prompt "
                                                    "correlations the power plan uses [stated assumptions]."),
    detect: float = typer.Option(0.02, help="--plan: the difference in bail rate to detect (0.02 = 2 points), "
                                            "at 80% power."),
    prices: Optional[Path] = typer.Option(None, help="--plan: a TOML price table that overrides the shipped one "
                                                     "(bailbench/prices.toml) model by model."),
) -> None:
    """Run an experiment file: every run it describes, resuming what is stored; writes sweep.json."""
    from .. import api
    from .driver import plan as plan_sweep
    from .driver import run_sweep
    from .tables import plan_table

    try:
        if plan:
            if not 0 < detect < 1:
                _fail(f"--detect {detect} is not a difference in rate: give a number between 0 and 1, e.g. 0.02")
            exp, sweep_dir, runs, est = plan_sweep(file, out, gpus, throughput)
            summary = api.load(pilot).summary if pilot else None
            console.out.print(plan_table(exp.name, runs, est))
            _print_power(runs, summary, detect)
            _print_prices(runs, prices)
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


def _print_power(runs: list[PlannedRun], summary: dict | None, detect: float) -> None:
    """One power table per prompts x samples of the sweep, naming the models of that size."""
    from ..analysis.power import power_rows
    from .plan import power_sizes

    for (prompts, samples), names in power_sizes(runs).items():
        rows = power_rows(summary, prompts=prompts, samples=samples, difference=detect)
        console.out.print(f"power of {', '.join(names)}:", markup=False, highlight=False)
        console.out.print(console.power_table(rows, prompts, samples, detect,
                                              assumed=any(r.source == "assumed" for r in rows)))


def _print_prices(runs: list[PlannedRun], override: Path | None) -> None:
    """Each API model's tokens and dollars over its BailBench runs (real conversations are
    streamed: their size is not known before they run, so they are not priced)."""
    from ..prices import Tokens, plan_prices, priced, run_tokens
    from ..runner import RunConfig, chosen_prompts

    totals: dict[str, Tokens] = {}
    for r in runs:
        if priced(r.model.spec) and isinstance(r.config, RunConfig):
            t, have = run_tokens(r.config, chosen_prompts(r.config)[1]), totals.get(r.model.spec, Tokens(0, 0))
            totals[r.model.spec] = Tokens(have.input + t.input, have.output + t.output, have.cached + t.cached)
    if totals:
        console.out.print("list prices of the BailBench runs (bailbench/prices.toml" +
                          (f" + {override}" if override else "") + "):", markup=False, highlight=False)
    for model, tokens in totals.items():
        console.out.print(console.price_line(model, tokens, plan_prices(model, tokens, override)))


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
        write_json(json_out, data, indent=2, ensure_ascii=False)


def register(app: typer.Typer) -> None:
    app.command()(sweep)
    app.command()(reproduce)
