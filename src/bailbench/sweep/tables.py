"""Terminal tables of the sweep commands: the plan, and measured rates beside the paper's."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from ..console import short
from ..methods import BAIL_METHODS
from .cost import Estimate
from .plan import PlannedRun


def _hours(h: float | None) -> str:
    if h is None:
        return "?"
    return f"{h * 60:.1f} min" if h < 1 else f"{h:.1f} h"


def plan_table(name: str, runs: list[PlannedRun], est: Estimate) -> Table:
    t = Table(title=escape(f"Sweep {name}: {len(runs)} runs"))
    for col in ("run", "model", "dataset", "condition", "samples", "stored", "GPUs", "samples/s", "time left"):
        t.add_column(col, justify="right" if col in ("samples", "stored", "GPUs", "samples/s", "time left")
                     else "left", overflow="fold")
    for r, c in zip(runs, est.runs):
        cond = [f"ablation {r.ablation}"] if r.ablation != "Baseline" else []
        cond += [f"prefix {r.prefix}"] if r.prefix else []
        cond += [f"after {r.rollouts_from}"] if r.rollouts_from else []
        samples = "?" if c.samples is None else (f"~{c.samples:,}" if c.estimated else f"{c.samples:,}")
        t.add_row(escape(r.id), escape(r.model.spec), escape(r.dataset), escape(", ".join(cond) or "-"), samples,
                  f"{c.stored:,}", f"{c.gpus:g}", "?" if c.throughput is None else f"{c.throughput:.2f}",
                  _hours(c.hours))
    total = sum(c.samples or 0 for c in est.runs)
    left = sum(c.remaining or 0 for c in est.runs)
    lines = [f"{total:,} samples planned, {left:,} left"
             + (" (sizes of real data and simulated users are estimates: ~)" if any(c.estimated for c in est.runs) else ""),
             f"cost: {est.gpu_hours:.2f} GPU-hours, {est.cpu_hours:.2f} CPU/API worker-hours; "
             f"about {_hours(est.wall_hours)} on {est.gpus} GPU{'s' if est.gpus > 1 else ''}"]
    by_source: dict[str, list[str]] = {}
    for label, src in est.sources.items():
        by_source.setdefault(src, []).append(label)
    lines += [f"samples/s of {', '.join(labels)}: {src}" for src, labels in by_source.items()]
    if est.unknown:
        lines.append(f"not counted (no throughput figure): {', '.join(est.unknown)}")
    t.caption = escape("\n".join(lines))
    t.caption_justify = "left"
    return t


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def reproduce_tables(data: dict) -> list:
    out = []
    for run in data["runs"]:
        cond = ", ".join(x for x in (run.get("prefix") and f"prefix {run['prefix']}",
                                     run.get("rollouts_from") and f"after {run['rollouts_from']}",
                                     run.get("ablation") not in (None, "Baseline") and f"ablation {run['ablation']}")
                         if x)
        title = f"{run['model']} on {run['dataset']}" + (f" ({cond})" if cond else "")
        if run["in_paper"]:
            t = Table(title=escape(title + ": measured beside the paper's plotted numbers (%)"))
            for col in ("condition", "method", "measure", "estimand", "measured [95% CI]", "n", "paper", "inside CI",
                        "paper row"):
                t.add_column(col, justify="right" if col in ("n", "paper") else "left", overflow="fold")
            for c in run["comparisons"]:
                estimand = "sampled" if c.get("comparable", True) else "[yellow]mean P(bail)[/]"
                t.add_row(escape(c["condition"]), short(c["method"]), c["measure"], estimand,
                          f"{c['measured']:.2f} [{c['ci_low']:.2f}, {c['ci_high']:.2f}]", str(c["n"]),
                          f"{c['paper']:.2f}", "[green]yes[/]" if c["inside"] else "[red]no[/]",
                          escape(f"{c['paper_model']} ({c['figure'].rsplit('/', 1)[-1]})"))
            inside = sum(c["inside"] for c in run["comparisons"])
            intervals = sorted({c.get("interval", "Wilson 95%") for c in run["comparisons"]})
            lines = [f"paper value inside the run's interval ({'; '.join(intervals)}): {inside} of "
                     f"{len(run['comparisons'])}",
                     f"run: protocol {run.get('protocol', 'default')}; paper: sampled shares, Wilson 95%, the "
                     "authors' pipeline", *(f"warning: {w}" for w in run.get("warnings", []))]
            t.caption = escape("\n".join(lines))
            t.caption_justify = "left"
        elif not run["nearest"] and run.get("warnings"):  # a kind of run the paper has nothing like
            t = Table(title=escape(title + ": not in the paper"), show_header=False)
            t.add_column("note", overflow="fold")
            for w in run["warnings"]:
                t.add_row(escape(w))
        else:
            t = Table(title=escape(title + ": not in the paper; nearest published rows (bail %)"))
            methods = [m for m in BAIL_METHODS if any(m in n["paper"] for n in run["nearest"])]
            t.add_column("row", overflow="fold")
            for m in methods:
                t.add_column(short(m), justify="right")
            t.add_column("distance", justify="right")
            if run["nearest"]:
                t.add_row("this run", *(_pct(run["nearest"][0]["measured"].get(m)) for m in methods), "")
            for n in run["nearest"]:
                t.add_row(escape(f"{n['model']} ({n['figure'].rsplit('/', 1)[-1]})"),
                          *(_pct(n["paper"].get(m)) for m in methods), f"{n['distance']:.1f} pts")
            t.caption = escape(f"nearest: {data['nearest_rule']}")
        out.append(t)
    return out
