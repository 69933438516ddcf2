"""Measured bail rates beside the paper's plotted numbers.

paper_numbers.json (shipped in the package) holds, per figure file of the authors' plots,
each model's plotted bail rate per method in percent. A run is matched to the figure
for its condition: BailBench with no prefix (the per-family figures), a jailbreak
prefix (jailbreak figures), another model's rollouts (cross-model figures), a wording
ablation (ablation figures), the neutral prompts (Bails Georg), real conversations
(WildChat, ShareGPT); and, when refusals were classified, the no-refusal figures too.
Each comparison says whether the paper's value lies inside the run's interval, and names
the run's estimand, interval and protocol beside the paper's (sampled shares, Wilson 95%, the
authors' pipeline). A bail prompt read in logprob mode estimates another quantity (mean
P(bail)) than the paper's sampled share: its rows are kept, marked `comparable: false`, and
warned about in one line.

A run whose model or condition the paper did not measure gets its nearest published
rows instead: the models of the comparable baseline figures whose bail rates are
closest to the run's, by the mean absolute difference in percentage points over the
methods the run measured.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from ..errors import UserError
from ..methods import BAIL_METHODS
from ..methods.registry import method_spec
from ..safe_io import read_json

FIGURES = "plots/bailRates/"
FAMILY = [FIGURES + f for f in ("openweight_bail.tex", "anthropic_bail.tex", "openai_bail.tex",
                                "bails_georg_bailbench_bail.tex", "refusal_abliterated_bail.tex",
                                "crossmodel_bail.tex")]
NEUTRAL = [FIGURES + "bails_georg_bail.tex"]
JAILBREAK = [FIGURES + "jailbreak_bail.tex", FIGURES + "jailbreak3_bail.tex"]
CROSS = {"gpt-3.5-turbo": FIGURES + "crossmodelcrossmodel-GPT-3.5-Turbo_bail.tex",
         "gpt-4": FIGURES + "crossmodelcrossmodel-GPT-4_bail.tex"}
REAL = {"wildchat": "plots/realWorldBail/wildchat.tex", "sharegpt": "plots/realWorldBail/shareGPT.tex"}
ABLATION_MODELS = {"Qwen2.5-7B-Instruct": "Qwen_Qwen2.5-7B-Instruct", "Qwen3-8B": "Qwen_Qwen3-8B",
                   "claude-3-6-sonnet": "claude-3-5-sonnet-20241022", "gpt-4o": "gpt-4o"}
# Anthropic's dated ids as the paper names them (it calls the October 2024 Sonnet "3.6").
ANTHROPIC = {"claude-3-haiku-20240307": "claude-3-haiku", "claude-3-5-haiku-20241022": "claude-3-5-haiku",
             "claude-3-5-sonnet-20240620": "claude-3-5-sonnet", "claude-3-5-sonnet-20241022": "claude-3-6-sonnet",
             "claude-3-7-sonnet-20250219": "claude-3-7-sonnet", "claude-sonnet-4-20250514": "claude-sonnet-4",
             "claude-3-opus-20240229": "claude-3-opus", "claude-opus-4-20250514": "claude-opus-4",
             "claude-opus-4-1-20250805": "claude-opus-4-1"}
_FORMAT_SUFFIX = re.compile(r"^[-._](i?q\d|f16|f32|bf16|fp16|fp8|gguf|awq|gptq|int4|int8)", re.I)
NEAREST = 3
# The model each jailbreak figure's prefixes were run on (the Q3 names on Qwen3-8B).
JAILBREAK_MODEL = {FIGURES + "jailbreak_bail.tex": "Qwen2.5-7B-Instruct", FIGURES + "jailbreak3_bail.tex": "Qwen3-8B"}
# Fillers in the authors' figures: methods they never ran, plotted as 0 (bailBenchEval.py skips
# the tool for Gemma 2: "gemma 2 doesn't support tool call").
NEVER_RAN = {("google/gemma-2", "tool")}
PAPER_ESTIMAND = "share of samples that bailed (the bail prompt sampled)"
PAPER_INTERVAL = "Wilson 95% (n = samples)"
CONVERSATIONS_ESTIMAND = "share of conversations with at least one bail, over all conversations"
# what the paper's real-data figures plot (Figure 1; Figure 6 for the no-refusal ones), over all conversations
PAPER_REAL = {"bail": (CONVERSATIONS_ESTIMAND + " (the bail prompt sampled)", "Wilson 95% (n = conversations)"),
              "no-refusal bail": ("conversations with a bail and no refused turn (P(refusal) > 0.5), over all "
                                  "conversations (Figure 6)", "Wilson 95% (n = conversations)")}
PAPER_NO_REFUSAL = ("mean over prompts of the no-refusal bail share (bail prompt: rollout P(refusal) < 0.5 and "
                    "bailed; tool, string: (1 - mean P(refusal)) x bail share)")


@lru_cache(maxsize=1)
def paper_numbers() -> dict:
    return json.loads((Path(__file__).with_name("paper_numbers.json")).read_text("utf-8"))


def _figure(name: str) -> dict:
    return paper_numbers()["figures"].get(name, {}).get("models", {})


def no_refuse(figure: str) -> str:
    return figure.replace("_bail.tex", "_no_refuse_bail.tex") if figure.endswith("_bail.tex") else \
        figure.replace(".tex", "_no_refuse_bail.tex")


def model_names(summary: dict) -> list[str]:
    """The names a run's model may carry in the paper: its id, without provider, org, date or format."""
    out = []
    for raw in (summary.get("model", ""), summary.get("model_id") or ""):
        name = raw.split(":", 1)[1] if re.match(r"^(gguf|hf|vllm|openai|anthropic):", raw) else raw
        name = re.sub(r"\.gguf$", "", name.rstrip("/"))
        base = name.rsplit("/", 1)[-1]
        for n in (name, base, ANTHROPIC.get(base, base), re.sub(r"-(\d{4}-\d{2}-\d{2}|0\d{3}|1\d{3})$", "", base)):
            if n and n not in out:
                out.append(n)
    return out


def paper_key(summary: dict, keys) -> str | None:
    """The figure's key for this run's model, best match first: the same id (case aside),
    then the same name without the org, then that name with a file-format suffix after it
    (-Q4_K_M, .f16 ...); None when nothing matches."""
    names = [n.lower() for n in model_names(summary)]
    ranked = []
    for key in keys:
        k, kb = key.lower(), key.lower().rsplit("/", 1)[-1]
        for n in names:
            nb = n.rsplit("/", 1)[-1]
            if n == k:
                ranked.append((0, key))
            elif nb == kb:
                ranked.append((1, key))
            elif nb.startswith(kb) and _FORMAT_SUFFIX.match(nb[len(kb):]):
                ranked.append((2, key))
    return min(ranked, key=lambda r: (r[0], -len(r[1]), r[1]))[1] if ranked else None


def _cell(stats: dict | None, scale: float = 100.0) -> dict | None:
    if not stats:
        return None
    rate = stats.get("bail_rate", stats.get("rate"))
    if rate is None:
        return None
    estimand = stats.get("estimand") or "share of samples that bailed"
    return {"measured": scale * rate, "ci_low": scale * stats["ci_low"], "ci_high": scale * stats["ci_high"],
            "n": stats.get("n"), "estimand": estimand, "interval": stats.get("interval") or PAPER_INTERVAL,
            "comparable": "mean P(bail)" not in estimand}


def _never_ran(paper_model: str, method: str) -> bool:
    """A filler of the authors' figures (a method they never ran, plotted as 0)."""
    return any(paper_model.startswith(m) and method == x for m, x in NEVER_RAN)


def _compare(cell: dict | None, paper: float | None, **where) -> dict | None:
    if cell is None or paper is None or paper != paper:
        return None
    if _never_ran(str(where.get("paper_model", "")), str(where.get("method"))):
        return None
    inside = cell["ci_low"] - 1e-9 <= paper <= cell["ci_high"] + 1e-9
    return {**where, **cell, "paper": paper, "paper_estimand": PAPER_ESTIMAND, "paper_interval": PAPER_INTERVAL,
            "inside": inside, "difference": cell["measured"] - paper}


def _measured(summary: dict) -> dict[str, dict | None]:
    """Per method: the bail rate (BailBench) or the share of conversations with a bail (real data)."""
    out: dict[str, dict | None] = {}
    for m, s in summary.get("methods", {}).items():
        if summary.get("kind") == "realdata":
            cwb = s.get("conversations_with_bail")
            out[m] = _cell({"estimand": CONVERSATIONS_ESTIMAND, **cwb} if cwb else None)
        else:
            out[m] = _cell(s)
    return out


def _no_refusal(summary: dict) -> dict[str, dict | None]:
    """No-refusal bail rates: of BailBench runs, the authors' per-prompt statistic; of real-data
    runs, Figure 6's (conversations with a bail and no refused turn, over all conversations),
    never the per-turn rate."""
    out: dict[str, dict | None] = {}
    real = summary.get("kind") == "realdata"
    for m, s in summary.get("methods", {}).items():
        nr = s.get("conversations_no_refusal_bail" if real else "no_refusal_bail")
        if nr and nr.get("rate") is not None and nr.get("ci_low") is not None:
            estimand = nr.get("estimand") or nr.get("estimate") or "no-refusal bail"
            if "mean P(bail)" in str(s.get("estimand")):  # a logprob check counts its P(bail)
                estimand += " (counting mean P(bail))"
            out[m] = _cell({**nr, "estimand": estimand})
    return out


def _conditions(summary: dict, source_model: str | None) -> list[tuple[str, list[str], str | None]]:
    """(condition, candidate figures, the row key to use instead of the model's) for this run."""
    if summary.get("kind") == "realdata":
        fig = REAL.get(str(summary.get("dataset", "")).lower())
        return [("real conversations", [fig], None)] if fig else []
    dataset = summary.get("dataset")
    if summary.get("prefix"):
        if dataset != "bailbench":
            return []
        # a prefix row holds the one model the paper ran it on: another model has no row there
        figures = [f for f in JAILBREAK if paper_key(summary, [JAILBREAK_MODEL[f]])]
        return [(f"prefix {summary['prefix']}", figures, summary["prefix"])] if figures else []
    if summary.get("rollouts_from"):
        fig = CROSS.get((source_model or "").lower())
        return [(f"after {source_model}'s rollouts", [fig], None)] if fig and dataset == "bailbench" else []
    if dataset == "neutral":
        return [("neutral prompts", NEUTRAL, None)]
    if dataset == "bailbench":
        return [("BailBench", FAMILY, None)]
    return []


def compare_run(path: Path) -> dict:
    """One run's comparisons with the paper (and, if it has none, its nearest published rows)."""
    summary = read_json(Path(path) / "summary.json", "a run summary", "pass a run directory written by bailbench")
    if not isinstance(summary, dict):
        raise UserError(f"{path}/summary.json holds no summary; rerun the command that wrote the run directory")
    if summary.get("kind") == "simulate":  # nothing published to set beside it, nor near it
        return {"run": str(path), "model": summary.get("model"), "dataset": summary.get("dataset"), "kind": "simulate",
                "ablation": summary.get("ablation", "Baseline"), "prefix": None,
                "protocol": summary.get("protocol", "default"), "paper_protocol": "paper (the authors' pipeline)",
                "rollouts_from": None, "in_paper": False, "comparisons": [], "nearest": [],
                "warnings": ["simulated users: the paper measured none (it names long and hostile conversations as "
                             "what its measurements leave out, §4.2); nothing to compare"]}
    source = (summary.get("rollouts_from") or {}).get("model")
    source_names = model_names({"model": source}) if source else []
    source_model = next((n for n in source_names if n.lower() in CROSS), source)
    found: list[dict | None] = []
    measured, no_ref = _measured(summary), _no_refusal(summary)
    ablation = summary.get("ablation", "Baseline")
    for condition, figures, row_key in _conditions(summary, source_model):
        for fig in figures:
            models = _figure(fig)
            key = row_key if row_key in models else (None if row_key else paper_key(summary, models))
            if key is None:
                continue
            if ablation not in ("Baseline", "all") and condition == "BailBench":
                break  # a single wording ablation: compared below, not with the baseline figure
            for m in BAIL_METHODS:
                found.append(_compare(measured.get(m), models[key].get(m), figure=fig, paper_model=key,
                                      condition=condition, method=m, measure="bail"))
                nr_models = _figure(no_refuse(fig))
                if m in no_ref and key in nr_models:
                    found.append(_compare(no_ref[m], nr_models[key].get(m), figure=no_refuse(fig), paper_model=key,
                                          condition=condition, method=m, measure="no-refusal bail"))
            break
    found += _ablation_rows(summary)
    rows = [r for r in found if r is not None]
    protocol = summary.get("protocol", "default")
    for r in rows:  # every row names both sides: protocol, estimand, interval
        r["protocol"], r["paper_protocol"] = protocol, "paper"
        if summary.get("kind") == "realdata":
            r["paper_estimand"], r["paper_interval"] = PAPER_REAL[r["measure"]]
        elif r["measure"] == "no-refusal bail":
            r["paper_estimand"] = PAPER_NO_REFUSAL
    result = {"run": str(path), "model": summary.get("model"), "dataset": summary.get("dataset"),
              "kind": summary.get("kind", "bailbench"), "ablation": ablation, "prefix": summary.get("prefix"),
              "protocol": summary.get("protocol", "default"), "paper_protocol": "paper (the authors' pipeline)",
              "rollouts_from": source, "in_paper": bool(rows), "comparisons": rows, "nearest": [],
              "warnings": _warnings(summary, rows)}
    if not rows:
        result["nearest"] = nearest(summary, measured)
    return result


def _warnings(summary: dict, rows: list[dict]) -> list[str]:
    """One line each where the run's numbers are not the paper's quantity or pipeline."""
    out = []
    for measure in sorted({r["measure"] for r in rows}):
        estimands = sorted({r["estimand"] for r in rows if r["measure"] == measure})
        if len(estimands) > 1:
            out.append(f"the {measure} rows estimate {len(estimands)} different quantities ({'; '.join(estimands)}); "
                       "each row names its own, beside the paper's")
    if any(not r["comparable"] for r in rows):
        out.append("the bail prompt was read in logprob mode: its rate is mean P(bail), not the paper's sampled "
                   "share; rerun with --bail-prompt-mode sample (or --protocol paper) to compare like with like")
    if rows and summary.get("protocol", "default") != "paper":
        out.append("run under the default protocol (the authors' bugs fixed); --protocol paper runs their "
                   "pipeline as it ran (README, Protocols)")
    return out


def _ablation_rows(summary: dict) -> list[dict | None]:
    """Wording ablations against the paper's ablation figures (Qwen2.5-7B, Qwen3-8B, Claude 3.6 Sonnet, GPT-4o)."""
    if summary.get("dataset") != "bailbench" or summary.get("prefix") or summary.get("rollouts_from"):
        return []
    key = paper_key(summary, ABLATION_MODELS)
    if key is None:
        return []
    rows = []
    if summary.get("ablation") == "all":
        per = {(m, a): s for m, by in summary.get("ablations", {}).items() for a, s in by.items()}
    elif summary.get("ablation") not in (None, "Baseline"):
        per = {(m, summary["ablation"]): s for m, s in summary.get("methods", {}).items()}
    else:
        return []
    for (m, a), stats in per.items():
        paper_name = method_spec(m).paper_name if m in BAIL_METHODS else None
        if a == "Baseline" or paper_name is None:
            continue
        fig = f"{FIGURES}prompt_ablate_{ABLATION_MODELS[key]}_{paper_name}_bail.tex"
        row = _figure(fig).get(a)
        if row is not None:
            rows.append(_compare(_cell(stats), row.get(m), figure=fig, paper_model=key, condition=f"ablation {a}",
                                 method=m, measure="bail"))
    return rows


def nearest(summary: dict, measured: dict[str, dict | None]) -> list[dict]:
    """The published rows of comparable baseline figures closest to the run's bail rates."""
    if summary.get("kind") == "realdata":
        figures = list(REAL.values())
    elif summary.get("dataset") == "neutral":
        figures = NEUTRAL
    else:
        figures = FAMILY
    have = {m: c["measured"] for m, c in measured.items() if c is not None and m in BAIL_METHODS}
    seen, out = set(), []
    for fig in figures:
        for model, rates in _figure(fig).items():
            common = [m for m in have if rates.get(m) is not None and not _never_ran(model, m)]
            if model in seen or not common:
                continue
            seen.add(model)
            dist = sum(abs(have[m] - rates[m]) for m in common) / len(common)
            out.append({"figure": fig, "model": model, "distance": dist,
                        "paper": {m: rates[m] for m in common}, "measured": {m: have[m] for m in common}})
    return sorted(out, key=lambda r: (r["distance"], r["model"]))[:NEAREST]


def reproduce(paths: list[Path]) -> dict:
    """Every run's comparisons: the table data for the terminal and the HTML report."""
    return {"source": paper_numbers()["source"],
            "nearest_rule": "closest bail-rate profile: smallest mean absolute difference (percentage points) "
                            "over the methods the run measured, among the baseline figures' models",
            "runs": [compare_run(Path(p)) for p in paths]}
