"""Across runs: a table of models x methods, the refusal-vs-bail relationship across models
(paper §2.4.2), and bail vectors (appendix D): per-prompt bail probabilities side by side,
compared by cosine similarity."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..methods import BAIL_FIRST, BAIL_METHODS, CONTINUE_FIRST
from ..methods.wordings import BASELINE
from ..store import Store, check_same_run, read_summary
from . import intervals
from .correlation import refusal_bail_association
from .rates import Cell, bail_vector, estimand_of, num, paired_units, units
from .stats import Z95, newcombe_difference


@dataclass
class RunView:
    path: Path
    label: str
    summary: dict
    vectors: dict[str, dict[str, float]]  # method -> prompt id -> mean P(bail) (or bail share)
    dataset_id: str  # the content of the dataset (real-data runs record it in the store's identity only)


def run_label(summary: dict) -> str:
    """How a run is named in tables and figures: the model, and what was done to it."""
    label = summary["model"]
    if summary.get("prefix"):
        label += f" +{summary['prefix']}"
    if summary.get("rollouts_from"):
        label += f" (after {summary['rollouts_from']['model']})"
    return label


def unique_labels(labels: list[str], paths: list[Path]) -> list[str]:
    """Labels that occur twice get their run directory's name added."""
    counts = Counter(labels)
    return [f"{lab} [{p.name}]" if counts[lab] > 1 else lab for lab, p in zip(labels, paths)]


def bail_vectors(store: Store, summary: dict) -> dict[str, dict[str, float]]:
    """Per method, each prompt's bail probability (rates.bail_vector)."""
    ablation = BASELINE if summary["ablation"] == "all" else summary["ablation"]
    return {m: bail_vector(store.db, m, ablation, summary["bail_prompt_mode"], summary["samples"])
            for m in summary["methods"]}


def paper_refusal_rate(refusal: dict) -> float | None:
    """The refusal rate the paper relates to bail rates across models: the mean P(refusal)
    (summaries written before it was recorded give the thresholded share)."""
    return refusal.get("mean_p_refusal", refusal.get("rate"))


def orders_averaged_rate(summary: dict) -> float | None:
    """A run's bail prompt with both orders averaged (Figure 20): the summary's own, else the
    mean of the two orders' bail_rate."""
    avg = summary.get("bail_prompt_orders_averaged") or {}
    if avg.get("bail_rate") is not None:
        return avg["bail_rate"]
    bf, cf = ((summary.get("methods", {}).get(m) or {}).get("bail_rate")
              for m in (BAIL_FIRST, CONTINUE_FIRST))
    return (bf + cf) / 2 if bf is not None and cf is not None else None


def load_run(path: Path) -> RunView:
    summary = read_summary(path)
    store = Store(path, create=False)
    try:
        identity = store.identity() or {}
        check_same_run(path, summary, identity)
        vectors = bail_vectors(store, summary)
    except sqlite3.Error as exc:  # damage the check at opening does not see
        raise UserError(f"{store.path} could not be read ({exc}); restore it from a copy, or run again") from None
    finally:
        store.close()
    dataset = summary.get("dataset_sha256") or identity.get("dataset_sha256") or identity.get("dataset_id")
    return RunView(path, run_label(summary), summary, vectors, str(dataset or summary["dataset"]))


def vector_kind(summary: dict, method: str) -> str:
    """What a run's bail vector holds for a method: probabilities read in one pass are dense
    and give higher cosines than sampled shares of the same preferences."""
    scored = method.startswith("prompt-") and summary.get("bail_prompt_mode") == "logprob"
    return "mean P(bail) per prompt" if scored else "share of samples that bailed per prompt"


def _successes(stats: dict) -> tuple[float, float]:
    """(k, n) behind a rate, on Kish's effective sample size n / design effect, so that intervals
    built from them keep the clustering of the run's own interval."""
    n = stats["n"] - (stats.get("unknowns", 0) if "mean_p_bail" in stats else 0)
    deff = max(1.0, stats.get("design_effect") or 1.0)
    return stats["bail_rate"] * n / deff, n / deff


def cross_model_change(cross: dict, own: dict) -> dict | None:
    """Figures 17-18: the bail prompt after another model's rollouts against after the model's
    own. `difference` (Newcombe's interval) and `percent_increase` = (cross - own) / own, with
    the log-ratio (Katz) interval of the ratio of two proportions; both on each rate's effective
    n (n / its design effect), so the prompt clustering is kept (`compare --paired` pairs them
    prompt by prompt)."""
    if not cross.get("n") or not own.get("n") or cross.get("bail_rate") is None or own.get("bail_rate") is None:
        return None
    (k1, n1), (k2, n2) = _successes(cross), _successes(own)
    d, lo, hi = newcombe_difference(k1, n1, k2, n2)
    out: dict[str, object] = {"difference": num(d), "ci_low": num(lo), "ci_high": num(hi), "ratio": None,
                              "percent_increase": None, "percent_increase_ci": None,
                              "interval": "Newcombe / Katz on the effective n (n / design effect), 95%",
                              "difference_label": "cross rate - own rate (Figure 18)",
                              "percent_increase_label": "100 x (cross rate - own rate) / own rate (Figure 17)"}
    own_rate, cross_rate = float(own["bail_rate"]), float(cross["bail_rate"])
    if own_rate > 0:  # the paper's (cross model rate - baseline rate) / baseline rate, whatever the interval
        out |= {"ratio": num(cross_rate / own_rate), "percent_increase": num(100 * (cross_rate - own_rate) / own_rate)}
    if k1 > 0 and k2 > 0:
        log_ratio = np.log((k1 / n1) / (k2 / n2))
        se = np.sqrt(1 / k1 - 1 / n1 + 1 / k2 - 1 / n2)
        out |= {"ratio_ci": [num(float(np.exp(log_ratio - Z95 * se))), num(float(np.exp(log_ratio + Z95 * se)))],
                "percent_increase_ci": [num(100 * (np.exp(log_ratio - Z95 * se) - 1)),
                                        num(100 * (np.exp(log_ratio + Z95 * se) - 1))]}
    return out


def _cross_model(runs: list[RunView], methods: Sequence[str]) -> list[dict]:
    """Each run after another model's rollouts beside the same model's own run (same prefix)."""
    out = []
    for r in runs:
        source = r.summary.get("rollouts_from")
        if not source:
            continue
        own = next((o for o in runs if not o.summary.get("rollouts_from") and o.summary["model"] == r.summary["model"]
                    and o.summary.get("prefix") == r.summary.get("prefix")), None)
        if own is None:
            continue
        changes = {m: cross_model_change(r.summary["methods"][m], own.summary["methods"][m]) for m in methods
                   if m.startswith("prompt-") and m in r.summary["methods"] and m in own.summary["methods"]}
        out.append({"run": r.label, "baseline": own.label, "rollouts_of": source.get("model"), "methods": changes})
    return out


def _run_units(r: RunView) -> tuple[dict, dict]:
    """A run's per-prompt sums and estimand per method, over its own samples and bail-prompt mode."""
    s = r.summary
    ablation = BASELINE if s["ablation"] == "all" else s["ablation"]
    store = Store(r.path, create=False)
    try:
        store.choose_where("SELECT key FROM samples WHERE sample < ? AND (mode = ? OR method NOT LIKE 'prompt-%') "
                           "ORDER BY key", (s["samples"], s.get("bail_prompt_mode") or ""))
        per = {m: units(store.db, Cell(m, ablation)).get("") for m in s["methods"]}
        est = {m: estimand_of(store.db, Cell(m, ablation)) for m in s["methods"]}
    finally:
        store.close()
    return per, est


def paired_runs(runs: list[RunView], methods: Sequence[str]) -> list[dict]:
    """Each run against the first on the prompts both ran (models on the same prompts, a prefix
    against none, another model's rollouts against the model's own): the paired difference of
    every method, clustered as the rates are, the p-values Holm-corrected over the methods."""
    base_units, base_est = _run_units(runs[0])
    out = []
    for r in runs[1:]:
        per, est = _run_units(r)
        paired = {m: paired_units(per.get(m), base_units.get(m), est.get(m, ""), base_est.get(m, "")) for m in methods}
        diffs = {m: d for m, d in paired.items() if d is not None}
        if diffs:
            for d, p in zip(diffs.values(), intervals.holm([d["p_value"] if d["p_value"] is not None else 1.0
                                                            for d in diffs.values()])):
                d["p_holm"] = num(float(p))
        out.append({"run": r.label, "minus": runs[0].label, "methods": diffs,
                    "correction": "Holm's step-down over the methods"})
    return out


def _medians(table: list[dict], methods: Sequence[str]) -> dict:
    """§3.1's medians: per method across the runs, and over every run and method."""
    per = {m: [row["methods"][m]["bail_rate"] for row in table
               if row["methods"].get(m) and row["methods"][m]["bail_rate"] is not None] for m in methods}
    every = [x for xs in per.values() for x in xs]
    no_refusal = [row["methods"][m]["no_refusal_bail_rate"] for row in table for m in methods
                  if row["methods"].get(m) and row["methods"][m].get("no_refusal_bail_rate") is not None]
    return {"per_method": {m: num(float(np.median(xs))) if xs else None for m, xs in per.items()},
            "all": num(float(np.median(every))) if every else None, "n_rates": len(every),
            "rule": "np.median of every (run, method) bail rate measured, as the authors' figure MEDIAN "
                    "(a method not run is left out, not a 0)",
            "no_refusal_all": num(float(np.median(no_refusal))) if no_refusal else None,
            "n_no_refusal_rates": len(no_refusal)}


def cosine(a: dict[str, float], b: dict[str, float]) -> float | None:
    common = sorted(set(a) & set(b))
    if not common:
        return None
    x, y = np.array([a[k] for k in common]), np.array([b[k] for k in common])
    denom = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y / denom) if denom > 0 else None


def compare(paths: list[Path], *, permutations: int = 10_000, seed: int = 0, paired: bool = False) -> dict:
    if permutations < 1:
        raise UserError(f"--permutations {permutations}: the permutation p-values need at least 1 permutation "
                        "(the default is 10000)")
    runs = [load_run(p) for p in paths]
    if len(runs) < 2:
        raise UserError("compare needs at least two run directories")
    datasets = {r.dataset_id for r in runs}
    if len(datasets) > 1:
        names = ", ".join(sorted({r.summary["dataset"] for r in runs}))
        raise UserError(f"these runs are over different datasets ({names}); compare runs over one dataset")
    for r, label in zip(runs, unique_labels([r.label for r in runs], [r.path for r in runs])):
        r.label = label
    warnings = []
    sizes = {(r.summary["n_prompts"], r.summary["samples"]) for r in runs}
    if len(sizes) > 1:
        warnings.append("runs differ in prompts x samples (" + ", ".join(
            f"{r.label}: {r.summary['n_prompts']}x{r.summary['samples']}" for r in runs)
            + "); rates stay comparable, their intervals differ in width")
    methods = [m for m in BAIL_METHODS if any(m in r.summary["methods"] for r in runs)]
    table = []
    for r in runs:
        row = {"run": str(r.path), "label": r.label, "model": r.summary["model"],
               "refusal": r.summary.get("refusal"), "methods": {}}
        for m in methods:
            s = r.summary["methods"].get(m)
            row["methods"][m] = None if s is None else {
                k: s.get(k) for k in ("bail_rate", "ci_low", "ci_high", "n", "unknown_rate", "no_refusal_bail_rate",
                                      "estimand", "interval", "majority_rate")}
        row["protocol"] = r.summary.get("protocol", "default")
        if r.summary.get("refusal"):
            row["refusal_rate"] = paper_refusal_rate(r.summary["refusal"])
            row["refusal_rate_label"] = "mean P(refusal) over rollouts (the paper's refusal rate)"
        table.append(row)
    for m in methods:
        estimands = {(row["methods"][m] or {}).get("estimand") or "share of samples that bailed" for row in table
                     if row["methods"].get(m)}
        if len(estimands) > 1:
            warnings.append(f"{m}: the runs estimate different quantities ({'; '.join(sorted(estimands))}); "
                            "their rates are not like for like (run the bail prompt in one --bail-prompt-mode)")
    protocols = {row["protocol"] for row in table}
    if len(protocols) > 1:
        warnings.append(f"the runs follow different protocols ({', '.join(sorted(protocols))})")

    classified = [r for r in runs if r.summary.get("refusal")]
    classifiers = {r.summary["refusal"]["classifier"] for r in classified}
    association: dict = {}
    if len(classifiers) > 1:
        warnings.append(f"refusals were classified by different classifiers ({', '.join(sorted(classifiers))}); "
                        "refusal vs bail is not computed")
    elif len(classified) < 3:
        warnings.append("refusal vs bail needs at least 3 runs with refusals classified (--refusal-classifier)")
    else:
        for m in methods:
            pts = [(paper_refusal_rate(r.summary["refusal"]), r.summary["methods"][m]["bail_rate"]) for r in classified
                   if m in r.summary["methods"] and r.summary["methods"][m]["bail_rate"] is not None]
            if len(pts) >= 3:
                x, y = zip(*pts)
                association[m] = {"n_models": len(pts), "refusal_rates": list(x), "bail_rates": list(y),
                                  **refusal_bail_association(x, y, permutations=permutations, seed=seed)}

    # Figure 20: the bail prompt's two orders averaged ("to account for positional bias") against refusals
    averaged: dict = {}
    pts = [(paper_refusal_rate(r.summary["refusal"]), orders_averaged_rate(r.summary)) for r in classified]
    pts = [(x, y) for x, y in pts if x is not None and y is not None]
    if len(classifiers) == 1 and len(pts) >= 3:
        x, y = zip(*pts)
        averaged = {"n_models": len(pts), "refusal_rates": list(x), "bail_rates": list(y),
                    "bail_rate_label": "mean of the two bail-prompt orders' bail_rate (Figure 20)",
                    "refusal_rate_label": "mean P(refusal) over rollouts",
                    **refusal_bail_association(x, y, permutations=permutations, seed=seed)}

    similarity = {}
    for m in methods:
        having = [r for r in runs if m in r.vectors]
        kinds = [vector_kind(r.summary, m) for r in having]
        similarity[m] = {"labels": [r.label for r in having], "vector": kinds,
                         "cosine": [[cosine(a.vectors[m], b.vectors[m]) for b in having] for a in having]}
        if len(set(kinds)) > 1:
            warnings.append(f"{m}: bail vectors of different kinds ({'; '.join(sorted(set(kinds)))}); dense "
                            "probabilities give higher cosines than sampled shares")
    # the methods of one model against each other (the linkpost's "inconsistency between bail methods")
    within = {r.label: {"methods": list(r.vectors), "vector": [vector_kind(r.summary, m) for m in r.vectors],
                        "cosine": [[cosine(r.vectors[a], r.vectors[b]) for b in r.vectors] for a in r.vectors]}
              for r in runs}
    return {"runs": table, "methods": methods, "refusal_vs_bail": association,
            "refusal_vs_bail_orders_averaged": averaged, "bail_vector_cosine": similarity,
            "method_cosine": within, "medians": _medians(table, methods),
            "cross_model_change": _cross_model(runs, methods),
            "paired": paired_runs(runs, methods) if paired else None,
            "warnings": warnings, "permutations": permutations, "seed": seed,
            "refusal_classifier": next(iter(classifiers)) if len(classifiers) == 1 else None}
