"""The `simulate` command; `register(app)` adds it to the `bailbench` CLI. Its options are the
declared settings of `SimulateConfig` and the backend's (settings.py); errors are one line
through the CLI's error boundary."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from .. import console
from ..backends.registry import backend_options
from ..settings import cli_parameters, with_options
from .run import SimulateConfig


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _share(s: dict) -> str:
    if s.get("rate") is None:
        return "-"
    return f"{s['count']:g}/{s['n']} {_pct(s['rate'])} [{_pct(s['ci_low'])}, {_pct(s['ci_high'])}]"


def family_table(summary: dict) -> Table:
    t = Table(title=escape(f"{summary['model']} with {summary['user']} as the user: {summary['conversations']} "
                           f"conversations per scenario, up to {summary['turns']} turns"))
    for col in ("family", "arm", "ended by bail", "median exit turn", "P(bail) by turn", "user role breaks",
                "other ends"):
        t.add_column(col, justify="left" if col in ("family", "arm", "P(bail) by turn") else "right")
    for family, f in summary["families"].items():
        for arm, a in f["arms"].items():
            ended = a.get("ended_by_bail")
            exit_turn = a.get("time_to_exit", {}).get("median_turn")
            other = ", ".join(f"{n} {e}" for e, n in a["ends"].items() if n and e not in ("bail", "turns"))
            t.add_row(family, arm, _share(ended) if ended else "no option",
                      "-" if exit_turn is None else str(exit_turn),
                      " ".join(_pct(p["mean_p_bail"]) for p in a["p_bail"]) or "-",
                      str(sum(a["role_breaks"].values())), other or "-")
    first = next((m for m in summary["methods"].values() if m.get("interval")), None)
    if first:
        t.caption = escape(f"[low, high]: 95%, {first['interval']}; P(bail): mean of the bail prompt's check "
                           f"({summary['check']}) after each assistant turn")
    return t


def appropriateness_lines(summary: dict) -> list[str]:
    lines = []
    for method, rows in summary["appropriateness"].items():
        parts = []
        for label, s in (("where leaving is appropriate", rows["appropriate"]),
                         ("in the controls", rows["inappropriate"])):
            if s["n"]:
                bound = f"; at most {_pct(s['upper_95'])} (exact one-sided 95%)" if s["count"] == 0 else ""
                parts.append(f"{label} {_share(s)}{bound}")
        lines.append(f"{method}: exits " + "; ".join(parts))
    return lines


@with_options(cli_parameters(SimulateConfig, backend_options(), skip=("refusal_classifier", "false_bail_filter")))
def simulate(**settings) -> None:
    """Simulated users talk to a model that can leave: when, and where, does it leave?"""
    from . import simulate as run_simulation

    reporter = console.RichReporter()
    try:
        result = run_simulation(reporter=reporter, **settings)
    finally:
        reporter.stop()
    s = result.summary
    console.out.print(family_table(s))
    for line in appropriateness_lines(s):
        console.out.print(line, markup=False, highlight=False)
    if spend := console.spend_line(s):
        console.out.print(spend)
    console.out.print(f"run directory: {result.path} ({s['new_samples']} new rows, {s['reused_samples']} reused; "
                      f"{s['seconds']:.0f} s)", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(simulate)
