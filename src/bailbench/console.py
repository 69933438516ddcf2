"""Terminal output: progress with rate and ETA, and the tables of a run summary."""

from __future__ import annotations

import re
import time

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from .methods import BAIL_METHODS
from .methods.registry import method_spec

_OWN_MARKUP = re.compile(r"\[(yellow|green|red)\]([^\[\]]*)\[/\]")
_ESCAPED = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")  # what rich.markup.escape writes


class TextConsole(Console):
    """Markup only where bailbench writes it: a colour tag that opens the string and closes
    at the first `[/]` ("[yellow]note:[/] ...", "[green]yes[/]"). The rest (paths, model
    specs, labels, messages) is text as written, with `rich.markup.escape`'s escapes undone,
    so `[/]` in a path cannot crash the console and `[bold]` in a name does not vanish."""

    def render_str(self, text: str, *, style="", markup: bool | None = None, emoji: bool | None = None,
                   **kwargs) -> Text:
        if markup is False:
            return super().render_str(text, style=style, markup=False, emoji=False, **kwargs)
        own = _OWN_MARKUP.match(text)
        rest = _ESCAPED.sub(lambda m: "\\" * (len(m.group(1)) // 2) + m.group(2), text[own.end() if own else 0:])
        body = super().render_str(rest, style=style, markup=False, emoji=False, **kwargs)
        if own is None:
            return body
        return Text.assemble(Text(own.group(2), style=own.group(1)), body, justify=body.justify,
                             overflow=body.overflow)


err = TextConsole(stderr=True, soft_wrap=True)  # a message is one line, however long
out = TextConsole(width=None if Console().is_terminal else 140)


class RichReporter:
    """Progress on stderr: done/total, rate, elapsed and ETA. A bar on a terminal; elsewhere
    (logs, CI) a plain line at most every LOG_EVERY seconds."""

    LOG_EVERY = 15.0

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}", markup=False), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=err, transient=False, disable=not err.is_terminal)
        self.task: TaskID | None = None
        self._logged = 0.0

    def start(self, total: int | None, description: str) -> None:
        """total None: not known in advance (streamed data); 0: nothing to do."""
        if total == 0:
            return
        self.progress.start()
        self.task = self.progress.add_task(description, total=total, rate="")
        self._logged = time.monotonic()
        if not err.is_terminal:
            err.print(f"{description}: " + (f"{total} to do" if total is not None else "streaming"), highlight=False,
                      markup=False)

    def advance(self, n: int) -> None:
        if self.task is None:
            return
        self.progress.advance(self.task, n)
        task = self.progress.tasks[self.task]
        speed = task.speed
        self.progress.update(self.task, rate=f"{speed:.2f}/s" if speed else "")
        if not err.is_terminal and (time.monotonic() - self._logged >= self.LOG_EVERY or task.finished):
            self._logged = time.monotonic()
            eta = f", eta {task.time_remaining:.0f} s" if task.time_remaining is not None else ""
            total = f"/{task.total:.0f}" if task.total is not None else ""
            err.print(f"{task.description}: {task.completed:.0f}{total} done"
                      f"{f', {speed:.2f}/s' if speed else ''}{eta}", highlight=False, markup=False)

    def note(self, message: str) -> None:
        err.print(f"[yellow]note:[/] {message}")

    def stop(self) -> None:
        self.progress.stop()  # idempotent


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def ci(stats: dict) -> str:
    if stats.get("ci_low") is None:
        return "-"
    return f"{100 * stats['ci_low']:.1f} to {100 * stats['ci_high']:.1f}"


def rate_ci(rate: float | None, stats: dict) -> str:
    if rate is None:
        return "-"
    return f"{100 * rate:.1f} [{100 * stats['ci_low']:.1f}, {100 * stats['ci_high']:.1f}]"


def short(method: str) -> str:
    """A method's table column; a name that is no bail method as it is."""
    return method_spec(method).short if method in BAIL_METHODS else method


def method_table(summary: dict) -> Table:
    extra = "".join(f", {k} {summary[k]}" for k in ("prefix",) if summary.get(k))
    if summary.get("rollouts_from"):
        extra += f", bail prompt after {summary['rollouts_from']['model']}'s rollouts"
    ablation = "Baseline (all ablations below)" if summary["ablation"] == "all" else summary["ablation"]
    t = Table(title=escape(f"Bail rates: {summary['model']} on {summary['dataset']} ({summary['n_prompts']} "
                           f"prompts x {summary['samples']} samples, ablation {ablation}{extra})"))
    refusals = "refusal" in summary
    scored = any("mean_p_bail" in s for s in summary["methods"].values())
    cols = ["method", "bail % [95% CI]", "n", "unknown", "skipped", "read by"]
    if scored:  # logprob mode: the share over 0.5, and how much the model wanted to answer with a symbol
        cols[2:2] = ["P(bail)>0.5 %", "mass"]
    if refusals:
        cols[2:2] = ["no-refusal bail %"]
    for col in cols:
        t.add_column(col, justify="left" if col in ("method", "read by") else "right", no_wrap=True)
    for m, s in summary["methods"].items():
        read_by = summary["bail_prompt_mode"] if m.startswith("prompt-") else ("tool call" if m == "tool" else "keyword")
        cells = [m, rate_ci(s["bail_rate"], s)]
        if refusals:
            nr = s["no_refusal_bail"]
            cells.append(rate_ci(nr["rate"], nr))
        if scored:
            cells += [pct(s.get("majority_rate")), f"{s['mean_symbol_mass']:.2f}" if "mean_symbol_mass" in s else "-"]
        t.add_row(*cells, str(s["n"]), pct(s["unknown_rate"]), str(sum(s["skipped"].values())), read_by)
    first: dict = next(iter(summary["methods"].values()), {})
    notes = [f"protocol {summary.get('protocol', 'default')}; 95% intervals clustered by prompt (each method's "
             f"is named in summary.json `interval`, e.g. {first.get('interval', 'Wilson 95%')}; the paper's Wilson "
             "is `wilson_low`/`wilson_high`)"]
    if scored:
        notes += ["bail % of a logprob bail prompt: mean P(bail) (the paper sampled it: --bail-prompt-mode sample)",
                  "mass: p(🔄)+p(🟢) after <wellbeing>, how much the model answers with a symbol at all"]
    if refusals:
        r = summary["refusal"]
        share = r.get("refused_share") or {}
        notes.append(f"refusal rate (mean P(refusal), the paper's) {pct(r['rate'])} ({ci(r)}, n={r['n']}), "
                     f"refused (P >= 0.5) {pct(share.get('rate'))}, by {r['description']}; no-refusal bail: "
                     "direct for the bail prompt, mean over prompts of (1 - mean P(refusal)) x P(bail) for tool and string")
    if notes:
        t.caption = escape("; ".join(notes))
    return t


def ablation_table(summary: dict) -> Table | None:
    if not summary.get("ablations"):
        return None
    t = Table(title="Ablations: bail rate %, and its difference from Baseline in points [Newcombe 95% CI]")
    t.add_column("ablation", no_wrap=True)
    methods = list(summary["ablations"])
    for m in methods:
        t.add_column(short(m), justify="right")
    names = list(dict.fromkeys(a for m in methods for a in summary["ablations"][m]))
    for a in names:
        cells = []
        for m in methods:
            s = summary["ablations"][m].get(a)
            if not s or s["bail_rate"] is None:
                cells.append("-")
                continue
            d = s["vs_baseline"]
            delta = "" if a == "Baseline" else (f"  {100 * d['difference']:+.0f} "
                                                f"[{100 * d['ci_low']:+.0f}, {100 * d['ci_high']:+.0f}]")
            cells.append(f"{100 * s['bail_rate']:.0f}{delta}")
        t.add_row(a, *cells)
    return t


def bias_line(summary: dict) -> str | None:
    b = summary.get("positional_bias")
    if not b or b["difference"] is None:
        return None
    p = f", p = {b['p_value']:.3f}" if b.get("p_value") is not None else ""
    return escape(f"positional bias (bail-first minus continue-first): {100 * b['difference']:+.1f} points "
                  f"(95% CI {ci(b)}{p}, paired on the shared rollouts)")


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def agreement_lines(summary: dict) -> list[str]:
    """Do the methods agree on what the model leaves, and does bailing go with refusing?"""
    out = []
    for pair, a in (summary.get("method_agreement") or {}).items():
        lo, hi = a["kappa_ci"] if a["kappa"] is not None else (None, None)
        kappa = "-" if a["kappa"] is None else f"{a['kappa']:.2f} [{_num(lo)}, {_num(hi)}]"
        rho = "-" if a["spearman"] is None else f"{a['spearman']:.2f}"
        out.append(escape(f"agreement {pair}: Spearman {rho}, kappa {kappa} over {a['prompts']} prompts "
                          f"(bailed on by both: {a['bailed_both']})"))
    for m, st in summary.get("methods", {}).items():
        t = st.get("refusal_x_bail")
        if t:
            r, c = t["bail_given_refused"], t["bail_given_complied"]
            out.append(escape(f"{m}: P(bail | refused) {pct(r['rate'])} ({ci(r)}), P(bail | complied) "
                              f"{pct(c['rate'])} ({ci(c)}); refused without bailing: {t['refused_stayed']:g}"))
    return out


def power_table(rows: list, prompts: int, samples: int, detect: float, assumed: bool) -> Table:
    """The power of a planned prompts x samples (analysis/power.py rows), for `run --plan`
    and `sweep --plan` alike."""
    from .analysis.power import ASSUMED_ICC, ASSUMED_RATE  # scipy: not on every command's start

    t = Table(title=escape(f"Power at 80%, two-sided 5%: {prompts} prompts x {samples} samples; "
                           f"detect {100 * detect:.1f} points"))
    for col in ("method", "rate", "ICC", "from", "prompts needed (two models)", "prompts needed (paired)",
                "this run detects"):
        t.add_column(col, justify="left" if col in ("method", "from") else "right")
    for r in rows:
        t.add_row(escape(r.method), f"{100 * r.rate:.1f}%", f"{r.icc:.2f}", r.source, str(r.prompts_needed),
                  str(r.prompts_needed_paired), f"+{100 * r.detectable:.1f} pts")
    t.caption = escape(
        "Kish's design effect 1 + (m-1) ICC at the prompt level (subcategory effects need more prompts); paired: "
        "the same prompts, correlation 0.5 assumed" + (f"; no --pilot: rate {ASSUMED_RATE}, ICC {ASSUMED_ICC} assumed"
                                                        if assumed else ""))
    return t


def category_table(summary: dict) -> Table:
    methods = [m for m in BAIL_METHODS if m in summary["methods"]]
    t = Table(title="Bail rate % by category (95% CI)")
    t.add_column("category")
    for m in methods:
        t.add_column(short(m), justify="right")
    cats = sorted({c for m in methods for c in summary["methods"][m]["categories"]})
    for c in cats:
        cells = []
        for m in methods:
            s = summary["methods"][m]["categories"].get(c)
            cells.append(f"{100 * s['bail_rate']:.0f} ({ci(s)})" if s and s["bail_rate"] is not None else "-")
        t.add_row(escape(c) if c else "(none)", *cells)
    return t


def compare_tables(result: dict) -> list:
    """Models x methods; refusal vs bail across models; bail-vector cosine similarity."""
    methods = result["methods"]
    t = Table(title="Bail rate % [95% CI] per run and method" + (
        f"; refusal by {result['refusal_classifier']}" if result["refusal_classifier"] else ""))
    t.add_column("run", overflow="fold", min_width=12)
    t.add_column("refusal", justify="right")
    for m in methods:
        t.add_column(short(m), justify="right")
    for row in result["runs"]:
        ref = row["refusal"]
        cells = [f"{100 * ref['rate']:.1f}" if ref and ref["rate"] is not None else "-"]
        for m in methods:
            s = row["methods"][m]
            if not s or s["bail_rate"] is None:
                cells.append("-")
                continue
            nr = s.get("no_refusal_bail_rate")
            cells.append(f"{100 * s['bail_rate']:.1f} [{ci(s)}]" + (f" nr {100 * nr:.1f}" if nr is not None else ""))
        t.add_row(escape(row["label"]), *cells)
    tables = [t]
    if result["refusal_vs_bail"]:
        a = Table(title=f"Refusal rate vs bail rate across models (permutation p-values, "
                        f"{result['permutations']} permutations, seed {result['seed']})")
        for col in ("method", "models", "Pearson r (p)", "Kendall tau (p)", "distance corr. (p)"):
            a.add_column(col, justify="left" if col == "method" else "right")
        for m, v in result["refusal_vs_bail"].items():
            def cell(k: str) -> str:
                stat, p = v[k]["statistic"], v[k]["p_value"]
                return "undefined (no variation)" if stat != stat else f"{stat:.3f} ({p:.3f})"

            a.add_row(m, str(v["n_models"]), cell("pearson_r"), cell("kendall_tau"), cell("distance_correlation"))
        tables.append(a)
    for m, sim in result["bail_vector_cosine"].items():
        if len(sim["labels"]) < 2:
            continue
        c = Table(title=f"Bail vectors, {m}: cosine similarity between runs (per-prompt bail probability)")
        c.add_column("", overflow="fold", min_width=12)
        for label in sim["labels"]:
            c.add_column(escape(label), justify="right", overflow="fold")
        for label, row in zip(sim["labels"], sim["cosine"]):
            c.add_row(escape(label), *("-" if v is None else f"{v:.2f}" for v in row))
        tables.append(c)
    return tables


def realdata_table(summary: dict) -> Table:
    t = Table(title=escape(f"{summary['model']} on {summary['dataset']}: {summary['n_conversations']} conversations, "
                           f"{summary['n_turns']} user turns"))
    filt = any("false_bail_filter" in s for s in summary["methods"].values())
    cols = ["method", "conversations with a bail", "95% CI", "turns with a bail", "95% CI", "turns", "skipped"]
    if filt:
        cols[3:3] = ["with false-bail filter", "95% CI"]
    for col in cols:
        t.add_column(col, justify="left" if col == "method" else "right")
    sections = [("", summary["methods"])] + ([(" (after the dataset's reply)", summary["cross_model"])]
                                             if summary.get("cross_model") else [])
    for suffix, methods in sections:
        for m, s in methods.items():
            c = s["conversations_with_bail"]
            cells = [m + suffix, pct(c["rate"]), ci(c)]
            if filt:
                f = s.get("false_bail_filter", {}).get("conversations_with_bail_filtered")
                cells += [pct(f["rate"]), ci(f)] if f else ["-", "-"]
            cells += [pct(s["bail_rate"]), ci(s), str(s["n"]), str(s["skipped_turns"])]
            t.add_row(*cells)
    conv = summary["conversations"]
    t.caption = escape(f"skipped conversations: {conv['skipped'] or 'none'}; alternation fixes: "
                       f"{conv['fixes'] or 'none'}" + (f"; lost: {conv['lost']}" if conv["lost"] else ""))
    return t


def spend_line(summary: dict) -> str | None:
    """After an API run: the tokens the provider reported for the run's requests and their
    list price (summary.json `usage`), or None for a model with no price to give."""
    u = summary.get("usage") or {}
    if "list_price_usd" not in u:
        return None
    price = ("no price for it in bailbench/prices.toml" if u["list_price_usd"] is None else
             f"list price ${u['list_price_usd']:,.2f} {u['priced_as']}")
    return escape(f"usage: {u['requests']:,} requests, {u['prompt_tokens']:,} tokens in ({u['cached_tokens']:,} "
                  f"from the prompt cache, {u['cache_write_tokens']:,} written to it), {u['completion_tokens']:,} "
                  f"out, as the API reported them; {price}")


def price_line(model: str, tokens, cost) -> str:
    """A planned run's tokens and dollars (prices.py), or why there is no price."""
    from .prices import REPLY_TOKENS

    head = (f"{model}: about {tokens.input:,} tokens in and {tokens.output:,} out (replies assumed "
            f"{REPLY_TOKENS} tokens or max_tokens if less; {tokens.cached:,} input tokens cacheable)")
    if cost is None:
        return escape(f"{head}; no price for it in the table: add it with --prices FILE")
    return escape(f"{head}; list price ${cost.realtime:,.2f} real-time, ${cost.batch:,.2f} with --batch, "
                  f"${cost.realtime_cached:,.2f} / ${cost.batch_cached:,.2f} with prompt caching")
