"""The paper's figures, from summary.json (and the comparison of runs). Each function returns
the figure and the numbers it plots, so the page and the tests can read them back."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..mechanism.controls import RANDOM, STEERED, UNSTEERED  # noqa: E402
from ..methods import BAIL_METHODS  # noqa: E402
from ..methods.registry import method_spec  # noqa: E402
from .runs import ReportRun  # noqa: E402

UNKNOWN = "#B0B0B0"


@dataclass(frozen=True)
class Figure:
    """A figure of the report: what draws it and its caption, declared together (`@figure`)."""

    name: str  # its file name: figures/NAME.png and .svg, and its key in figures.json
    draw: Callable  # (runs or comparison) -> (figure, the numbers it plots), or None with nothing to draw
    caption: str
    over: str  # "runs": drawn from the runs' summaries; "comparison": from their comparison


FIGURES: dict[str, Figure] = {}  # in the order they are declared


def figure(name: str, caption: str, over: str = "runs") -> Callable[[Callable], Callable]:
    """Register a figure with its caption: the report draws it, saves it and shows it."""
    def mark(draw: Callable) -> Callable:
        FIGURES[name] = Figure(name, draw, caption, over)
        return draw
    return mark


def method_color(method: str) -> str:
    return method_spec(method).color


def method_label(method: str) -> str:
    """A method's name on the figures; a name that is no bail method (a simulated arm) as it is."""
    return method_spec(method).label if method in BAIL_METHODS else method


def _pct(x):
    return math.nan if x is None else 100 * x


def _grouped(ax, labels, methods, values, lows, highs, *, unknown=None):
    """Bars per label (group) and method, clustered error bars, unknown share stacked in grey."""
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(labels))
    for j, m in enumerate(methods):
        pos = x - 0.4 + width * (j + 0.5)
        v = np.array(values[j], dtype=float)
        err = np.array([np.nan_to_num(v - np.array(lows[j], dtype=float)),
                        np.nan_to_num(np.array(highs[j], dtype=float) - v)])
        ax.bar(pos, np.nan_to_num(v), width, color=method_color(m), label=method_label(m), gid=f"bar:{m}")
        ax.errorbar(pos, np.nan_to_num(v), yerr=err, fmt="none", ecolor="black", capsize=2, lw=0.8)
        if unknown is not None:
            u = np.nan_to_num(np.array(unknown[j], dtype=float))
            ax.bar(pos, u, width, bottom=np.nan_to_num(v), color=UNKNOWN, gid=f"unknown:{m}",
                   label="Invalid output (unknown)" if j == 0 else None)
    ax.set_xticks(x, labels, rotation=30 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center")
    ax.set_ylabel("%")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


@figure("bail_rates",
        caption=("Bail rate per run and method with 95% intervals clustered by prompt (README, Error bars; the "
                 "paper's Wilson is in rates.csv); grey: outputs in no bail format (unknown)."))
def bail_rates(runs: list[ReportRun]):
    runs = [r for r in runs if not r.realdata]
    if not runs:
        return None
    methods = [m for m in BAIL_METHODS if any(m in r.summary["methods"] for r in runs)]
    if not methods:
        return None
    get = lambda r, m, k: _pct(r.summary["methods"].get(m, {}).get(k))  # noqa: E731
    data = {"labels": [r.label for r in runs], "methods": methods,
            **{k: [[get(r, m, k) for r in runs] for m in methods]
               for k in ("bail_rate", "ci_low", "ci_high", "unknown_rate")}}
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(runs) + 3), 4))
    _grouped(ax, data["labels"], methods, data["bail_rate"], data["ci_low"], data["ci_high"],
             unknown=data["unknown_rate"])
    ax.set_title(f"Bail rate on {runs[0].summary['dataset']} (95% CI, clustered)")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig, data


@figure("no_refusal_bails",
        caption=("Bails that came without a refusal (bail prompt: counted directly; tool and string: P(no refuse) "
                 "x P(bail) per prompt, averaged)."))
def no_refusal_bails(runs: list[ReportRun]):
    runs = [r for r in runs if not r.realdata and r.summary.get("refusal")]
    if not runs:
        return None
    methods = [m for m in BAIL_METHODS if any(m in r.summary["methods"] for r in runs)]
    nr = lambda r, m, k: _pct((r.summary["methods"].get(m, {}).get("no_refusal_bail") or {}).get(k))  # noqa: E731
    data = {"labels": [r.label for r in runs], "methods": methods,
            "refusal_rate": [_pct(r.summary["refusal"]["rate"]) for r in runs],
            **{k: [[nr(r, m, src) for r in runs] for m in methods]
               for k, src in (("no_refusal_bail_rate", "rate"), ("ci_low", "ci_low"), ("ci_high", "ci_high"))}}
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(runs) + 3), 4))
    _grouped(ax, data["labels"], methods, data["no_refusal_bail_rate"], data["ci_low"], data["ci_high"])
    classifier = runs[0].summary["refusal"]["classifier"]
    ax.set_title(f"Bails without a refusal (refusals by {classifier})")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig, data


@figure("categories",
        caption="Bail rate by category, per run and method.")
def category_heatmap(runs: list[ReportRun]):
    runs = [r for r in runs if not r.realdata]
    cols = [(r, m) for r in runs for m in BAIL_METHODS if m in r.summary["methods"]]
    cats = sorted({c for r, m in cols for c in r.summary["methods"][m]["categories"]})
    if not cols or not cats:
        return None
    values = [[_pct(r.summary["methods"][m]["categories"].get(c, {}).get("bail_rate")) for r, m in cols] for c in cats]
    data = {"rows": cats, "cols": [f"{r.label} · {method_label(m)}" for r, m in cols], "values": values}
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(cols) + 4), max(3, 0.38 * len(cats) + 1.5)))
    im = ax.imshow(np.array(values, dtype=float), cmap="Reds", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(cols)), data["cols"], rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(cats)), cats, fontsize=8)
    for i in range(len(cats)):
        for j in range(len(cols)):
            if not math.isnan(values[i][j]):
                ax.text(j, i, f"{values[i][j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if values[i][j] > 60 else "black")
    fig.colorbar(im, ax=ax, label="bail rate %")
    ax.set_title("Bail rate by category")
    fig.tight_layout()
    return fig, data


@figure("ablations",
        caption="Each wording ablation against Baseline, 95% intervals clustered by prompt.")
def ablations(runs: list[ReportRun]):
    runs = [r for r in runs if r.summary.get("ablations")]
    if not runs:
        return None
    panels = [(r, m) for r in runs for m in r.summary["ablations"]]
    data = {f"{r.label} · {m}": {a: {"bail_rate": _pct(s["bail_rate"]), "ci_low": _pct(s["ci_low"]),
                                      "ci_high": _pct(s["ci_high"]),
                                      "difference": _pct(s["vs_baseline"]["difference"])}
                                  for a, s in r.summary["ablations"][m].items()} for r, m in panels}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 0.35 * max(len(v) for v in data.values()) + 1.8),
                             squeeze=False)
    for ax, ((r, m), (title, abl)) in zip(axes[0], zip(panels, data.items())):
        names = list(abl)
        v = np.array([abl[a]["bail_rate"] for a in names], dtype=float)
        lo = np.array([abl[a]["ci_low"] for a in names], dtype=float)
        hi = np.array([abl[a]["ci_high"] for a in names], dtype=float)
        y = np.arange(len(names))
        ax.barh(y, np.nan_to_num(v), color=[method_color(m) if a != "Baseline" else "#333333" for a in names],
                gid=f"ablation:{m}")
        ax.errorbar(np.nan_to_num(v), y, xerr=[np.nan_to_num(v - lo), np.nan_to_num(hi - v)], fmt="none",
                    ecolor="black", capsize=2, lw=0.8)
        ax.axvline(abl["Baseline"]["bail_rate"], color="#333333", ls="--", lw=0.8)
        ax.set_yticks(y, names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("bail rate %")
        ax.set_title(title, fontsize=9)
    fig.suptitle("Wording ablations against Baseline (dashed)")
    fig.tight_layout()
    return fig, data


@figure("refusal_vs_bail", over="comparison",
        caption=("Refusal rate against bail rate across runs, with Pearson r, Kendall tau and distance correlation "
                 "and their permutation p-values."))
def refusal_vs_bail(comparison: dict | None):
    if not comparison or not comparison.get("refusal_vs_bail"):
        return None
    assoc = comparison["refusal_vs_bail"]
    labels = {row["label"]: row for row in comparison["runs"]}
    fig, axes = plt.subplots(1, len(assoc), figsize=(4.3 * len(assoc), 4.2), squeeze=False)
    data = {}
    for ax, (m, v) in zip(axes[0], assoc.items()):
        x, y = [100 * a for a in v["bail_rates"]], [100 * a for a in v["refusal_rates"]]
        ax.scatter(x, y, color=method_color(m), gid=f"points:{m}")
        names = [lab for lab, row in labels.items() if row["refusal"] and (row["methods"].get(m) or {}).get("bail_rate")
                 is not None]
        for xi, yi, name in zip(x, y, names):
            ax.annotate(name, (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        stat = lambda k: f"{v[k]['statistic']:.2f} (p={v[k]['p_value']:.3f})"  # noqa: E731
        ax.set_title(f"{method_label(m)}\nr={stat('pearson_r')}\nτ={stat('kendall_tau')}, dCor={stat('distance_correlation')}",
                     fontsize=8)
        ax.set_xlabel("bail rate %")
        ax.set_ylabel("refusal rate % (mean P(refusal))")
        data[m] = {"bail_rate": x, "refusal_rate": y, "pearson_r": v["pearson_r"], "kendall_tau": v["kendall_tau"],
                   "distance_correlation": v["distance_correlation"]}
    fig.suptitle(f"Refusal rate vs bail rate across models (refusals by {comparison['refusal_classifier']}; "
                 f"permutation p-values)", fontsize=9)
    fig.tight_layout()
    return fig, data


@figure("bail_vector_similarity", over="comparison",
        caption="Cosine similarity of the runs' per-prompt bail probabilities (bail vectors).")
def similarity(comparison: dict | None):
    if not comparison:
        return None
    sims = {m: s for m, s in comparison["bail_vector_cosine"].items() if len(s["labels"]) >= 2}
    if not sims:
        return None
    fig, axes = plt.subplots(1, len(sims), figsize=(4.2 * len(sims), 4), squeeze=False)
    data = {}
    for ax, (m, s) in zip(axes[0], sims.items()):
        mat = np.array([[math.nan if c is None else c for c in row] for row in s["cosine"]], dtype=float)
        ax.imshow(mat, cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(s["labels"])), s["labels"], rotation=40, ha="right", fontsize=7)
        ax.set_yticks(range(len(s["labels"])), s["labels"], fontsize=7)
        for i in range(len(mat)):
            for j in range(len(mat)):
                if not math.isnan(mat[i, j]):
                    ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white")
        ax.set_title(method_label(m), fontsize=9)
        data[m] = {"labels": s["labels"], "cosine": mat.tolist()}
    fig.suptitle("Bail vectors: cosine similarity of per-prompt bail probabilities", fontsize=9)
    fig.tight_layout()
    return fig, data


@figure("realdata",
        caption="Share of conversations with at least one bail, Wilson 95% intervals.")
def realdata_rates(runs: list[ReportRun]):
    runs = [r for r in runs if r.realdata]
    if not runs:
        return None
    groups = []
    for r in runs:
        groups.append((r.label, r.summary["methods"]))
        if r.summary.get("cross_model"):
            groups.append((f"{r.label} (after the dataset's reply)", r.summary["cross_model"]))
    methods = [m for m in BAIL_METHODS if any(m in g for _, g in groups)]
    get = lambda g, m, k: _pct((g.get(m) or {}).get("conversations_with_bail", {}).get(k))  # noqa: E731
    data = {"labels": [lab for lab, _ in groups], "methods": methods,
            **{k: [[get(g, m, src) for _, g in groups] for m in methods]
               for k, src in (("conversations_with_bail", "rate"), ("ci_low", "ci_low"), ("ci_high", "ci_high"))}}
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(groups) + 3), 4))
    _grouped(ax, data["labels"], methods, data["conversations_with_bail"], data["ci_low"], data["ci_high"])
    ax.set_title(f"Conversations with a bail: {runs[0].summary['dataset']} (95% CI, clustered)")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig, data


@figure("per_turn",
        caption="Bail rate by user turn, 95% bands clustered by conversation.")
def per_turn(runs: list[ReportRun]):
    runs = [r for r in runs if r.realdata]
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    data = {}
    for r in runs:
        for m, st in r.summary["methods"].items():
            turns = st.get("per_turn") or []
            if not turns:
                continue
            x = [t["turn"] + 1 for t in turns]
            y, lo, hi = ([_pct(t[k]) for t in turns] for k in ("rate", "ci_low", "ci_high"))
            ax.plot(x, y, marker="o", color=method_color(m), label=f"{r.label} · {method_label(m)}", gid=f"turns:{r.label}:{m}")
            ax.fill_between(x, lo, hi, color=method_color(m), alpha=0.15)
            data[f"{r.label} · {m}"] = {"turn": x, "bail_rate": y, "ci_low": lo, "ci_high": hi}
    ax.set_xlabel("user turn")
    ax.set_ylabel("bail rate %")
    ax.set_title("Bail rate by turn (95% CI, clustered)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig, data


def _dicts(value) -> dict:
    """A summary's mapping, or nothing where a damaged file holds something else."""
    return {k: v for k, v in value.items() if isinstance(v, dict)} if isinstance(value, dict) else {}


@figure("time_to_exit",
        caption=("Simulated users: the share of conversations the model has not left after each assistant turn "
                 "(Kaplan-Meier; conversations that reached the last turn are censored), per scenario family."))
def time_to_exit(runs: list[ReportRun]):
    """Simulated users: the Kaplan-Meier share of conversations still going after each turn,
    one panel per live bail option, one line per run and scenario family."""
    curves: dict[str, dict[str, dict]] = {}
    for r in (r for r in runs if r.simulate):
        for family, f in _dicts(r.summary.get("families")).items():
            for arm, a in _dicts(f.get("arms")).items():
                tte = a.get("time_to_exit")
                curve = tte.get("curve") if isinstance(tte, dict) else None
                points = [c for c in curve if isinstance(c, dict) and isinstance(c.get("turn"), (int, float))
                          and isinstance(c.get("survival"), (int, float))] if isinstance(curve, list) else []
                if points:
                    label = f"{r.label} · {family}" if len(runs) > 1 else str(family)
                    curves.setdefault(arm, {})[label] = {"turn": [0] + [c["turn"] for c in points],
                                                         "survival": [100.0] + [_pct(c["survival"]) for c in points]}
    if not curves:
        return None
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4), squeeze=False)
    for ax, (arm, lines) in zip(axes[0], curves.items()):
        for label, c in lines.items():
            ax.step(c["turn"], c["survival"], where="post", label=label, gid=f"exit:{arm}:{label}")
        ax.set_title(f"{method_label(arm)}: conversations not yet left")
        ax.set_xlabel("assistant turn")
        ax.set_ylabel("%")
        ax.set_ylim(0, 102)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig, curves


def _steering_data(block: dict) -> dict | None:
    """The numbers one run's steering block plots, or None where the steered run, the
    unsteered run or every random direction is missing (no steered number without its controls)."""
    conds = _dicts(block.get("conditions"))
    if STEERED not in conds or UNSTEERED not in conds or not any(str(c).startswith(RANDOM) for c in conds):
        return None
    names = list(conds)
    per = {c: _dicts(conds[c].get("methods")) for c in names}
    methods = [m for m in BAIL_METHODS if m in per[STEERED]]
    if not methods:
        return None
    num = lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None  # noqa: E731
    get = lambda c, m, k: _pct(num((per[c].get(m) or {}).get(k)))  # noqa: E731
    mass = {c: conds[c].get("symbol_mass") if isinstance(conds[c].get("symbol_mass"), dict) else {} for c in names}
    prompt_methods = [m for m in methods if any(m in mass[c] for c in names)]
    return {"steer": block.get("steer"), "conditions": names, "methods": methods,
            **{k: [[get(c, m, k) for c in names] for m in methods] for k in ("bail_rate", "ci_low", "ci_high")},
            "n": [[(per[c].get(m) or {}).get("n") for c in names] for m in methods],
            "refusal_rate": [_pct(num(conds[c].get("refusal_rate"))) for c in names],
            "symbol_mass": {m: [_pct(num(mass[c].get(m))) for c in names] for m in prompt_methods},
            "kl_neutral": [num(conds[c].get("kl_neutral")) for c in names]}


def _condition_label(name: str, steer) -> str:
    if name == STEERED and isinstance(steer, dict):
        alpha = steer.get("alpha")
        return f"steered (L{steer.get('layer')}, α={alpha:g})" if isinstance(alpha, (int, float)) else "steered"
    if name.startswith(RANDOM):
        return f"random {name[len(RANDOM):]}"
    return name.replace(":", " ")


@figure("steering",
        caption=("Steered runs (--steer FILE:LAYER:ALPHA): each method's bail rate per condition with 95% "
                 "intervals clustered by prompt, the steered run beside its controls, each run on the same prompts "
                 "and seeds: unsteered, random directions of the same norm at the same layer (one per seed), and "
                 "the same direction at another layer (half the depth away). Guardrails: the mean symbol mass "
                 "p(🔄)+p(🟢) at the bail prompt's check (near 0: the model no longer answers with a symbol) and the "
                 "mean KL(unsteered || condition) of the next token on neutral prompts (how far the steering moves "
                 "the model where bail is not in question). A run without its unsteered and random controls is not "
                 "drawn; the paired differences are the summary's steering effects."))
def steering(runs: list[ReportRun]):
    """Steered runs (`--steer`): every method's bail rate under the steered condition beside its
    controls (unsteered, random directions of the same norm, the same direction at another layer),
    with the guardrails (symbol mass at the check, KL on neutral prompts) in panels of their own.
    A run whose block lacks the unsteered run or a random direction is not drawn."""
    data = {}
    for r in runs:
        block = r.summary.get("steering")
        d = _steering_data(block) if isinstance(block, dict) else None
        if d is not None:
            data[r.label] = d
    if not data:
        return None
    width = max(6.0, 1.3 * max(len(d["conditions"]) for d in data.values()) + 2)
    fig, axes = plt.subplots(len(data), 3, figsize=(width + 7, 4.2 * len(data)), squeeze=False,
                             gridspec_kw={"width_ratios": [width, 3.5, 3]})
    for (ax, mass_ax, kl_ax), (label, d) in zip(axes, data.items()):
        ticks = [_condition_label(c, d["steer"]) for c in d["conditions"]]
        _grouped(ax, ticks, d["methods"], d["bail_rate"], d["ci_low"], d["ci_high"])
        ax.set_title(f"{label}: bail rate per condition (95% CI, clustered)", fontsize=9)
        ax.legend(fontsize=7, frameon=False)
        if d["symbol_mass"]:
            ms = list(d["symbol_mass"])
            w = 0.8 / len(ms)
            for j, m in enumerate(ms):
                mass_ax.bar(np.arange(len(ticks)) - 0.4 + w * (j + 0.5), np.nan_to_num(np.array(
                    d["symbol_mass"][m], dtype=float)), w, color=method_color(m), label=method_label(m), gid=f"bar:{m}")
            mass_ax.set_xticks(np.arange(len(ticks)), ticks, rotation=30, ha="right")
            mass_ax.set_ylabel("P(bail symbol) + P(continue symbol), %")
            mass_ax.set_ylim(0, 100)
            mass_ax.grid(axis="y", alpha=0.3)
            mass_ax.set_axisbelow(True)
        else:
            mass_ax.text(0.5, 0.5, "no bail prompt in the run", ha="center", va="center", transform=mass_ax.transAxes)
            mass_ax.set_xticks([])
        mass_ax.set_title("Guardrail: symbol mass at the check", fontsize=9)
        x = np.arange(len(ticks))
        kl = np.array([math.nan if v is None else v for v in d["kl_neutral"]], dtype=float)
        kl_ax.bar(x, np.nan_to_num(kl), 0.6, color="#555555", gid="kl_neutral")
        for xi, v in zip(x, kl):
            kl_ax.annotate("-" if math.isnan(v) else f"{v:.3g}", (xi, 0 if math.isnan(v) else v), fontsize=7,
                           ha="center", va="bottom", xytext=(0, 2), textcoords="offset points")
        kl_ax.set_xticks(x, ticks, rotation=30, ha="right")
        kl_ax.set_ylabel("KL(unsteered || condition), nats")
        kl_ax.set_title("Guardrail: KL on neutral prompts", fontsize=9)
        kl_ax.grid(axis="y", alpha=0.3)
        kl_ax.set_axisbelow(True)
    fig.tight_layout()
    return fig, data
