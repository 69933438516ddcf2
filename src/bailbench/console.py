"""Terminal output: progress with rate and ETA, and the tables of a run summary."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from .methods import BAIL_METHODS

err = Console(stderr=True)
out = Console(width=None if Console().is_terminal else 120)


class RichReporter:
    """Progress bar on stderr: samples done, samples per second, elapsed and ETA."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=err, transient=False)
        self.task = None

    def start(self, total: int, description: str) -> None:
        self.progress.start()
        self.task = self.progress.add_task(description, total=total, rate="")

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)
        speed = self.progress.tasks[self.task].speed
        self.progress.update(self.task, rate=f"{speed:.2f} samples/s" if speed else "")

    def note(self, message: str) -> None:
        err.print(f"[yellow]note:[/] {message}")

    def stop(self) -> None:
        self.progress.stop()


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def ci(stats: dict) -> str:
    if stats.get("ci_low") is None:
        return "-"
    return f"{100 * stats['ci_low']:.1f}-{100 * stats['ci_high']:.1f}"


SHORT = {"tool": "tool", "string": "string", "prompt-bail-first": "bail-first", "prompt-continue-first": "cont-first"}


def method_table(summary: dict) -> Table:
    t = Table(title=f"Bail rates: {summary['model']} on {summary['dataset']} "
                    f"({summary['n_prompts']} prompts x {summary['samples']} samples, ablation {summary['ablation']})")
    for col in ("method", "bail rate", "95% CI (Wilson)", "n", "unknown", "skipped", "read by"):
        t.add_column(col, justify="left" if col in ("method", "read by") else "right")
    for m, s in summary["methods"].items():
        read_by = summary["bail_prompt_mode"] if m.startswith("prompt-") else ("tool call" if m == "tool" else "keyword")
        t.add_row(m, pct(s["bail_rate"]), ci(s), str(s["n"]), pct(s["unknown_rate"]),
                  str(sum(s["skipped"].values())), read_by)
    return t


def category_table(summary: dict) -> Table:
    methods = [m for m in BAIL_METHODS if m in summary["methods"]]
    t = Table(title="Bail rate % by category (95% CI)")
    t.add_column("category")
    for m in methods:
        t.add_column(SHORT[m], justify="right")
    cats = sorted({c for m in methods for c in summary["methods"][m]["categories"]})
    for c in cats:
        cells = []
        for m in methods:
            s = summary["methods"][m]["categories"].get(c)
            cells.append(f"{100 * s['bail_rate']:.0f} ({ci(s)})" if s and s["bail_rate"] is not None else "-")
        t.add_row(c or "(none)", *cells)
    return t
