"""`bailbench report RUN... --out DIR`: figures (PNG and SVG), tables (CSV, Parquet, LaTeX),
per-sample exports, and report.html."""

from __future__ import annotations

import io
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..safe_io import make_dir, replacing, write_json
from ..taxonomy.output import read_tree
from . import figures as F
from .html import _fmt, _table, write_page
from .runs import ReportRun, load_runs
from .tables import (
    AGREEMENT_COLUMNS,
    CATEGORY_COLUMNS,
    RATE_COLUMNS,
    REFUSAL_BAIL_COLUMNS,
    SIMULATE_COLUMNS,
    agreement_rows,
    category_rows,
    export_samples,
    rate_rows,
    refusal_bail_rows,
    simulate_rows,
    write_csv,
    write_latex,
    write_parquet,
)

TABLE_CAPTIONS = {
    "rates": "95% intervals clustered by prompt (by conversation for real data), each named in `interval`; wilson "
             "low, high: the paper's Wilson interval (n = prompts x samples), for `reproduce`.",
    "categories": "95% intervals clustered by prompt (subcategories as the clusters where a category has several).",
    "agreement": "Agreement of each run's methods on the same prompts (appendix B's first open question): Spearman "
                 "of the per-prompt bail rates and Cohen's kappa of the prompts bailed on (a majority of their "
                 "samples), with 95% percentile cluster-bootstrap intervals clustered by prompt, resampling the "
                 "clusters of the rates' intervals (subcategories where a category has several; `interval` names "
                 "each); bailed a, b, both: prompts bailed on.",
    "refusal_x_bail": "Refusal x bail of the bail prompt per run and method (its check follows its own rollout; "
                      "refused: P(refusal) >= 0.5 by the run's classifier): samples refused and bailed, refused and "
                      "stayed (the paper's no-bail refusals), complied and bailed, complied and stayed (a logprob "
                      "check counts its P(bail)); P(bail | refused) and P(bail | complied) in % with 95% intervals "
                      "clustered by prompt (cluster-robust, named in `interval`), their paired difference in points "
                      "(paired cluster-robust interval, `difference interval`) and its p-value.",
    "simulate": "Simulated users: conversations ended by a bail per scenario family and live bail option, with "
                "95% intervals clustered by scenario (named in `interval`) and the one-sided 95% upper bound "
                "(`upper 95`, what to quote when there were none); the median turn of exit (Kaplan-Meier, "
                "censored at the last turn); whether leaving is appropriate in the family (the crisis and coding "
                "families are controls); and, pooled, every family where leaving is appropriate and every control.",
}


@dataclass
class ReportResult:
    out: Path
    files: list[Path] = field(default_factory=list)
    figures: dict = field(default_factory=dict)  # name -> the numbers plotted
    notes: list[str] = field(default_factory=list)


def _comparison(runs: list[ReportRun], notes: list[str]) -> dict | None:
    bench = [r for r in runs if not r.realdata and not r.simulate]
    if len(bench) < 2:
        return None
    from ..analysis.compare import compare

    try:
        result = compare([r.path for r in bench], permutations=10_000)
    except UserError as exc:
        notes.append(f"runs not compared: {exc}")
        return None
    notes.extend(result["warnings"])
    return result


def find_taxonomies(runs: list[ReportRun], extra: list[Path] | None = None) -> list[dict]:
    """taxonomy.json trees to show: those given, and any in a run's directory (RUN/taxonomy/ as
    `bailbench taxonomy RUN` writes it, or RUN/ itself); each once."""
    found, seen = [], set()
    candidates = [p / "taxonomy.json" if p.is_dir() else p for p in (extra or [])]
    for p in candidates:
        if not p.is_file():
            raise UserError(f"--taxonomy {p} not found: pass a taxonomy.json or the folder holding it")
    candidates += [f for r in runs for f in (r.path / "taxonomy" / "taxonomy.json", r.path / "taxonomy.json")
                   if f.is_file()]
    for f in candidates:
        key = f.resolve()
        if key in seen:
            continue
        seen.add(key)
        found.append(read_tree(f))
    return found


def build_report(paths: list[Path], out: Path, taxonomy: list[Path] | None = None) -> ReportResult:
    """`taxonomy`: taxonomy.json files (or their folders) to show beside any found in the run directories."""
    try:
        return _build(paths, out, taxonomy)
    except sqlite3.Error as exc:  # a store damaged where the check at opening does not look
        raise UserError(f"a run store could not be read ({exc}); restore it from a copy, or run again") from None


def _figures(runs: list[ReportRun], comparison: dict | None, result: ReportResult) -> list[tuple[str, str, bytes]]:
    """Every figure that has data, saved as PNG and SVG; labels are text, never mathtext
    (a `$` in a category or a model name is a dollar sign)."""
    import matplotlib.pyplot as plt

    svgs = []
    ordered = sorted(F.FIGURES.values(), key=lambda fig: fig.over != "runs")  # the runs' first, each in order
    with plt.rc_context({"text.parse_math": False, "text.usetex": False}):
        for figure in ordered:
            name = figure.name
            made = figure.draw(runs if figure.over == "runs" else comparison)
            if made is None:
                continue
            fig, data = made
            for ext in ("png", "svg"):
                path = result.out / "figures" / f"{name}.{ext}"
                with replacing(path, "wb") as f:
                    fig.savefig(f, format=ext, dpi=150)
                result.files.append(path)
            buf = io.BytesIO()
            fig.savefig(buf, format="svg")
            plt.close(fig)
            svgs.append((name, figure.caption, buf.getvalue()))
            result.figures[name] = data
    return svgs


def _build(paths: list[Path], out: Path, taxonomy: list[Path] | None) -> ReportResult:
    runs = load_runs(paths)
    taxonomies = find_taxonomies(runs, taxonomy)
    make_dir(out)
    make_dir(out / "figures")
    result = ReportResult(out)
    comparison = _comparison(runs, result.notes)
    svgs = _figures(runs, comparison, result)
    figures_json = out / "figures" / "figures.json"
    write_json(figures_json, _nan_to_none(result.figures), indent=1)
    result.files.append(figures_json)

    rates, cats = rate_rows(runs), category_rows(runs)
    agree, joint, sim = agreement_rows(runs), refusal_bail_rows(runs), simulate_rows(runs)
    for stem, rows, cols in (("rates", rates, RATE_COLUMNS), ("categories", cats, CATEGORY_COLUMNS),
                             ("agreement", agree, AGREEMENT_COLUMNS), ("refusal_x_bail", joint, REFUSAL_BAIL_COLUMNS),
                             *((("simulate", sim, SIMULATE_COLUMNS),) if sim else ())):
        write_csv(rows, cols, out / f"{stem}.csv")
        write_parquet(rows, cols, out / f"{stem}.parquet")
        result.files += [out / f"{stem}.csv", out / f"{stem}.parquet"]
    write_latex(rates, out / "rates.tex", caption=f"Bail rates ({', '.join(r.label for r in runs)}), "
                                                  "95% intervals clustered by prompt (conversation for real data).")
    result.files.append(out / "rates.tex")
    n = export_samples(runs, out / "samples.csv", out / "samples.parquet")
    result.files += [out / "samples.csv", out / "samples.parquet"]

    tables = [("Bail rates (%) per run and method", _table(
        [(c, c.replace("_", " ")) for c in RATE_COLUMNS if any(r.get(c) not in (None, "") for r in rates)], rates, _fmt,
        TABLE_CAPTIONS["rates"]))]
    if cats:
        tables.append(("Bail rates (%) per category", _table(_labels(CATEGORY_COLUMNS), cats, _fmt,
                                                             TABLE_CAPTIONS["categories"])))
    if agree:
        tables.append(("Agreement between methods", _table(_labels(AGREEMENT_COLUMNS), agree, _numbers(set()),
                                                           TABLE_CAPTIONS["agreement"])))
    if joint:
        percent = {f"{p}{k}" for p in ("refused_", "complied_", "difference_") for k in ("ci_low", "ci_high")}
        percent |= {"bail_given_refused", "bail_given_complied", "difference"}
        tables.append(("Refusal x bail per method", _table(_labels(REFUSAL_BAIL_COLUMNS), joint, _numbers(percent),
                                                           TABLE_CAPTIONS["refusal_x_bail"])))
    if sim:
        percent = {"rate", "ci_low", "ci_high", "upper_95"}
        tables.append(("Simulated users: exits per scenario family", _table(_labels(SIMULATE_COLUMNS), sim,
                                                                             _numbers(percent), TABLE_CAPTIONS["simulate"])))
    if comparison and comparison["refusal_vs_bail"]:
        rows = [{"method": m, **{f"{k} {x}": v[k][x] for k in ("pearson_r", "kendall_tau", "distance_correlation")
                                 for x in ("statistic", "p_value")}} for m, v in comparison["refusal_vs_bail"].items()]
        tables.append(("Refusal vs bail across runs", _table([(k, k.replace("_", " ")) for k in rows[0]], rows,
                                                             lambda k, v: "-" if v is None else
                                                             (f"{v:.3f}" if isinstance(v, float) else str(v)))))
    title = "bailbench report"
    subtitle = (f"{len(runs)} run(s): {', '.join(r.label for r in runs)}; dataset {runs[0].summary['dataset']}; "
                f"{n} samples" + (f"; notes: {' '.join(result.notes)}" if result.notes else ""))
    write_page(out / "report.html", title=title, subtitle=subtitle, figures=svgs, tables=tables, runs=runs,
               taxonomies=taxonomies)
    result.files.append(out / "report.html")
    return result


def _labels(columns: list[str]) -> list[tuple[str, str]]:
    return [(c, c.replace("_", " ")) for c in columns]


def _numbers(percent: set[str]):
    """A cell formatter: the columns in `percent` as percent (points), other numbers to 3
    places, anything else as its text (a damaged summary may hold text where a number belongs)."""
    def fmt(key: str, value) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{100 * value:.1f}" if key in percent else f"{value:.3f}"
        return str(value)
    return fmt


def _nan_to_none(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj
