"""The report's tables as rows, and their CSV, Parquet and LaTeX forms; per-sample exports
streamed from the run stores."""

from __future__ import annotations

import csv
from contextlib import ExitStack
from pathlib import Path

from ..safe_io import replacing, write_text
from ..store import COLUMN_TYPES, COLUMNS
from .runs import ReportRun

RATE_COLUMNS = ["run", "model", "dataset", "method", "bail_prompt_mode", "protocol", "estimand", "bail_rate", "ci_low",
                "ci_high", "interval", "wilson_low", "wilson_high", "n",
                "unknown_rate", "refusal_classifier", "refusal_rate", "no_refusal_bail_rate",
                "conversations_with_bail", "conversations_ci_low", "conversations_ci_high", "conversations"]


def rate_rows(runs: list[ReportRun]) -> list[dict]:
    """One row per run and method: the numbers of summary.json, flat."""
    rows = []
    for r in runs:
        s = r.summary
        ref = s.get("refusal") or {}
        for m, st in s["methods"].items():
            conv = st.get("conversations_with_bail") or {}
            rows.append({
                "run": r.label, "model": s["model"], "dataset": s["dataset"], "method": m,
                "bail_prompt_mode": s["bail_prompt_mode"] if m.startswith("prompt-") else "",
                "protocol": s.get("protocol", "default"), "estimand": st.get("estimand", ""),
                "bail_rate": st["bail_rate"], "ci_low": st["ci_low"], "ci_high": st["ci_high"],
                "interval": st.get("interval") or "Wilson 95%", "wilson_low": st.get("wilson_low", st["ci_low"]),
                "wilson_high": st.get("wilson_high", st["ci_high"]), "n": st["n"],
                "unknown_rate": st["unknown_rate"], "refusal_classifier": ref.get("classifier", ""),
                "refusal_rate": ref.get("mean_p_refusal", ref.get("rate")), "no_refusal_bail_rate": st.get("no_refusal_bail_rate"),
                "conversations_with_bail": conv.get("rate"), "conversations_ci_low": conv.get("ci_low"),
                "conversations_ci_high": conv.get("ci_high"), "conversations": conv.get("n"),
            })
    return rows


CATEGORY_COLUMNS = ["run", "method", "category", "bail_rate", "ci_low", "ci_high", "n"]


def category_rows(runs: list[ReportRun]) -> list[dict]:
    rows = []
    for r in runs:
        for m, st in r.summary["methods"].items():
            for c, cs in (st.get("categories") or {}).items():
                rows.append({"run": r.label, "method": m, "category": c, "bail_rate": cs["bail_rate"],
                             "ci_low": cs["ci_low"], "ci_high": cs["ci_high"], "n": cs["n"]})
    return rows


AGREEMENT_COLUMNS = ["run", "method_a", "method_b", "prompts", "spearman", "spearman_low", "spearman_high", "kappa",
                     "kappa_low", "kappa_high", "bailed_a", "bailed_b", "bailed_both", "interval"]


def agreement_rows(runs: list[ReportRun]) -> list[dict]:
    """One row per run and pair of its methods (summary.json `method_agreement`): do the
    methods bail on the same prompts?"""
    rows = []
    for r in runs:
        for pair, a in (r.summary.get("method_agreement") or {}).items():
            first, _, second = pair.partition(" ~ ")
            rho_low, rho_high = a["spearman_ci"]
            kappa_low, kappa_high = a["kappa_ci"]
            rows.append({"run": r.label, "method_a": first, "method_b": second, "prompts": a["prompts"],
                         "spearman": a["spearman"], "spearman_low": rho_low, "spearman_high": rho_high,
                         "kappa": a["kappa"], "kappa_low": kappa_low, "kappa_high": kappa_high,
                         "bailed_a": a["bailed_a"], "bailed_b": a["bailed_b"], "bailed_both": a["bailed_both"],
                         "interval": a["interval"]})
    return rows


REFUSAL_BAIL_COLUMNS = ["run", "method", "refused_bailed", "refused_stayed", "complied_bailed", "complied_stayed",
                        "bail_given_refused", "refused_ci_low", "refused_ci_high", "refused_n",
                        "bail_given_complied", "complied_ci_low", "complied_ci_high", "complied_n",
                        "difference", "difference_ci_low", "difference_ci_high", "p_value", "interval",
                        "difference_interval"]


def refusal_bail_rows(runs: list[ReportRun]) -> list[dict]:
    """One row per run and bail prompt method with refusals classified (summary.json
    `refusal_x_bail`): the joint counts, P(bail | refused), P(bail | complied) and their
    paired difference."""
    rows = []
    for r in runs:
        for m, st in r.summary["methods"].items():
            t = st.get("refusal_x_bail")
            if not t:
                continue
            ref, com, d = t["bail_given_refused"], t["bail_given_complied"], t["difference"]
            rows.append({"run": r.label, "method": m, **{k: t[k] for k in REFUSAL_BAIL_COLUMNS[2:6]},
                         "bail_given_refused": ref["rate"], "refused_ci_low": ref["ci_low"],
                         "refused_ci_high": ref["ci_high"], "refused_n": ref["n"],
                         "bail_given_complied": com["rate"], "complied_ci_low": com["ci_low"],
                         "complied_ci_high": com["ci_high"], "complied_n": com["n"],
                         "difference": d["estimate"], "difference_ci_low": d["ci_low"],
                         "difference_ci_high": d["ci_high"], "p_value": d["p_value"],
                         "interval": ref.get("interval") or com.get("interval"), "difference_interval": d["interval"]})
    return rows


SIMULATE_COLUMNS = ["run", "family", "arm", "leaving_appropriate", "conversations", "ended_by_bail", "rate",
                    "ci_low", "ci_high", "upper_95", "median_turn", "censored_at", "truncated_calls", "interval"]


def simulate_rows(runs: list[ReportRun]) -> list[dict]:
    """Simulated users, one row per run, scenario family and live bail option: the conversations
    ended by a bail (with the one-sided upper bound where there were none), when (median turn of
    exit, Kaplan-Meier), and whether leaving was appropriate in that family; then, per option,
    every family where leaving is appropriate and every control pooled (`all appropriate`,
    `all controls`)."""
    def d(value) -> dict:
        return value if isinstance(value, dict) else {}

    rows = []
    for r in (r for r in runs if r.simulate):
        for family, f in d(r.summary.get("families")).items():
            fits = {d(sc).get("leaving_appropriate") for sc in d(d(f).get("scenarios")).values()}
            fit = ("yes" if True in fits else "no") if len(fits) == 1 else "mixed"
            for arm, a in d(d(f).get("arms")).items():
                ended, tte = d(d(a).get("ended_by_bail")), d(d(a).get("time_to_exit"))
                if not ended:
                    continue  # the arm without a bail option
                rows.append({"run": r.label, "family": family, "arm": arm,
                             "leaving_appropriate": fit,
                             "conversations": d(a).get("conversations"), "ended_by_bail": ended.get("count"),
                             "rate": ended.get("rate"), "ci_low": ended.get("ci_low"), "ci_high": ended.get("ci_high"),
                             "upper_95": ended.get("upper_95"), "median_turn": tte.get("median_turn"),
                             "censored_at": tte.get("censored_at"), "truncated_calls": d(a).get("truncated_calls"),
                             "interval": ended.get("interval")})
        for arm, groups in d(r.summary.get("appropriateness")).items():
            for group, label, pooled in (("appropriate", "all appropriate", "yes"), ("inappropriate", "all controls", "no")):
                g = d(d(groups).get(group))
                if g:
                    rows.append({"run": r.label, "family": label, "arm": arm, "leaving_appropriate": pooled,
                                 "conversations": g.get("n"), "ended_by_bail": g.get("count"), "rate": g.get("rate"),
                                 "ci_low": g.get("ci_low"), "ci_high": g.get("ci_high"),
                                 "upper_95": g.get("upper_95"), "median_turn": None, "censored_at": None,
                                 "truncated_calls": None, "interval": g.get("interval")})
    return rows


def write_csv(rows: list[dict], columns: list[str], path: Path) -> None:
    with replacing(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)


def write_parquet(rows: list[dict], columns: list[str], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with replacing(path, "wb") as f:
        pq.write_table(pa.Table.from_pylist(rows, schema=_schema(rows, columns)), f)


def _schema(rows: list[dict], columns: list[str]):
    import pyarrow as pa

    def kind(col):
        values = [r[col] for r in rows if r.get(col) is not None]
        if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return pa.float64() if any(isinstance(v, float) for v in values) else pa.int64()
        return pa.string()

    return pa.schema([(c, kind(c)) for c in columns])


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def write_latex(rows: list[dict], path: Path, caption: str) -> None:
    """A booktabs table of bail rates with their (clustered) intervals, in percent."""
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{llrrr}", r"\toprule",
             r"Run & Method & Bail rate (\%) & 95\% CI & $n$ \\", r"\midrule"]
    for row in rows:
        if row["bail_rate"] is None:
            continue
        lines.append(f"{latex_escape(row['run'])} & {latex_escape(row['method'])} & {100 * row['bail_rate']:.1f} & "
                     f"[{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}] & {row['n']} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{latex_escape(caption)}}}", r"\end{table}", ""]
    write_text(path, "\n".join(lines))


SAMPLE_EXPORT_COLUMNS = ["run"] + COLUMNS


def export_samples(runs: list[ReportRun], csv_path: Path, parquet_path: Path | None, batch: int = 5000) -> int:
    """Every stored sample of every run, streamed in batches (memory does not grow with runs)."""
    with ExitStack() as files:
        writer = None
        if parquet_path is not None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrow = {"REAL": pa.float64(), "INTEGER": pa.int64()}  # each column as the store types it
            schema = pa.schema([(c, arrow.get(COLUMN_TYPES.get(c, "TEXT"), pa.string())) for c in SAMPLE_EXPORT_COLUMNS])
            writer = files.enter_context(pq.ParquetWriter(files.enter_context(replacing(parquet_path, "wb")), schema))
        w = csv.writer(files.enter_context(replacing(csv_path, "w", newline="", encoding="utf-8")))
        w.writerow(SAMPLE_EXPORT_COLUMNS)
        total = 0
        for r in runs:
            store = r.store()
            cur = store.db.execute(f"SELECT {store.select} FROM samples ORDER BY key")
            while chunk := cur.fetchmany(batch):
                rows = [(r.label, *row) for row in chunk]
                w.writerows(rows)
                if writer is not None:
                    writer.write_table(pa.Table.from_pylist([dict(zip(SAMPLE_EXPORT_COLUMNS, x)) for x in rows],
                                                            schema=schema))
                total += len(rows)
            store.close()
    return total
