"""The self-contained report page: figures, sortable tables and a transcript browser.

Everything from models, datasets, summaries and taxonomy files is untrusted text. Every
value written into the page is HTML-escaped (numbers too: a file may hold text where a
number belongs); the samples travel as gzip+base64 blobs (a base64 alphabet cannot close
a tag) that the page's own script decodes and shows with `textContent` only; and a
Content-Security-Policy allows no script and no style but the page's own (by hash), no
base URL and no form target. The browser keeps
a small columnar index for filtering and decompresses a chunk of transcripts only when
one of its samples is opened, so 100k samples stay responsive; the page is written
chunk by chunk, so building it takes bounded memory.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
from importlib.resources import files
from pathlib import Path

from ..safe_io import replacing
from ..store import COLUMNS
from .runs import ReportRun

CHUNK = 400  # samples per transcript blob
VERDICTS = ["bail", "continue", "unknown", "truncated_call", "", "skipped"]  # "" = a rollout (no verdict)


def _b64gz(obj) -> str:
    return base64.b64encode(gzip.compress(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode(),
                                         compresslevel=6)).decode("ascii")


def _refusals(run: ReportRun, store) -> dict[tuple[str, int], float | None]:
    ref = run.summary.get("refusal")
    if not ref:
        return {}
    q = ("SELECT s.prompt_id, CAST(s.sample AS INTEGER), CAST(r.p_refusal AS REAL) FROM refusals r "
         "JOIN samples s ON s.key = r.key WHERE r.classifier = ?")
    return {(pid, smp): p for pid, smp, p in store.db.execute(q, (ref["classifier"],))}


def write_samples(runs: list[ReportRun], out) -> dict:
    """Write the transcript blobs to `out` and return the index of every sample."""
    index: dict[str, list] = {"runs": [r.label for r in runs], "methods": [], "categories": [], "ablations": [], "verdicts": VERDICTS,
             "run": [], "method": [], "category": [], "ablation": [], "verdict": [], "p": [], "refused": [],
             "turn": [], "chunk": [], "pos": [], "prompt": [], "key": []}
    lookup: dict[str, dict[str, int]] = {k: {} for k in ("methods", "categories", "ablations")}

    def code(kind: str, value: str) -> int:
        table = lookup[kind]
        if value not in table:
            table[value] = len(index[kind])
            index[kind].append(value)
        return table[value]

    buffer: list[dict] = []
    n_chunks = 0

    def flush():
        nonlocal n_chunks
        if buffer:
            out.write(f'<script type="application/octet-stream" class="chunk" data-chunk="{n_chunks}">'
                      f"{_b64gz(buffer)}</script>\n")
            buffer.clear()
            n_chunks += 1

    cols = ",".join(COLUMNS)
    for i, run in enumerate(runs):
        store = run.store()
        refused = _refusals(run, store)
        cols = getattr(store, "select", cols)  # an older store: the columns it lacks read as defaults
        cur = store.db.execute(f"SELECT {cols} FROM samples ORDER BY prompt_id, sample, method, ablation, key")
        while batch := cur.fetchmany(1000):
            for row in batch:
                r = dict(zip(COLUMNS, row))
                index["run"].append(i)
                index["method"].append(code("methods", r["method"]))
                index["category"].append(code("categories", r["category"] or ""))
                index["ablation"].append(code("ablations", r["ablation"] or ""))
                index["verdict"].append(VERDICTS.index("skipped" if r["skipped"] else (r["verdict"] or "")))
                index["p"].append(None if r["p_bail"] is None else round(r["p_bail"], 4))
                pr = refused.get((r["prompt_id"], r["sample"]))
                index["refused"].append(None if pr is None else int(pr >= 0.5))
                index["turn"].append(r["sample"])
                index["chunk"].append(n_chunks)
                index["pos"].append(len(buffer))
                index["prompt"].append((r["prompt"] or "")[:160])
                index["key"].append(r["key"])
                buffer.append({k: r[k] for k in ("key", "prompt_id", "subcategory", "mode", "seed", "rendered",
                                                 "reply", "mass", "finish_reason", "completion_tokens", "skipped",
                                                 "prompt")})
                if len(buffer) == CHUNK:
                    flush()
        store.close()
    flush()
    return index


def _table(columns: list[tuple[str, str]], rows: list[dict], fmt, caption: str = "") -> str:
    """A sortable table; `caption` says what its numbers are (which interval they show)."""
    head = "".join(f'<th data-col="{i}">{html.escape(label)}</th>' for i, (_, label) in enumerate(columns))
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            sort = "" if value is None else html.escape(str(value), quote=True)
            cells.append(f'<td data-sort="{sort}">{html.escape(fmt(key, value))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<table class="sortable">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table>")


def _fmt(key: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{100 * value:.1f}" if key.endswith(("rate", "low", "high", "bail")) else f"{value:.3f}"
    return str(value)



# The page's style and script are package files, read once (their hashes go in the CSP); each
# starts with a newline, as the page has always written them.
STYLE = (files(__package__) / "page.css").read_text(encoding="utf-8")
SCRIPT = (files(__package__) / "page.js").read_text(encoding="utf-8")

FILTERS = """
<div id="filters">
<label>run <select id="f-run"><option value="">all</option></select></label>
<label>method <select id="f-method"><option value="">all</option></select></label>
<label>category <select id="f-category"><option value="">all</option></select></label>
<label>ablation <select id="f-ablation"><option value="">all</option></select></label>
<label>verdict <select id="f-verdict"><option value="">all</option></select></label>
<label>rollout refused <select id="f-refused"><option value="">all</option><option>yes</option><option>no</option>
<option>unknown</option></select></label>
<label>P(bail) from <input id="f-pmin" type="number" step="0.05" min="0" max="1" size="4"> to
<input id="f-pmax" type="number" step="0.05" min="0" max="1" size="4"></label>
<label>prompt contains <input id="f-text" type="search" size="18"></label>
</div>
<p><span id="tx-active"></span> <b id="count"></b> <span id="page"></span> <span id="pager"><button id="prev">previous</button>
<button id="next">next</button></span></p>
<div id="rows"></div>
"""


def _e(value) -> str:
    """Any value as escaped text for the page."""
    return html.escape(str(value), quote=True)


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# Nothing but the page's own script and style runs; no base URL, no form target, no frames.
CSP = (f"default-src 'none'; img-src data:; style-src {_hash(STYLE)}; script-src {_hash(SCRIPT)}; "
       "base-uri 'none'; form-action 'none'")


def write_page(path: Path, *, title: str, subtitle: str, figures: list[tuple[str, str, bytes]],
               tables: list[tuple[str, str]], runs: list[ReportRun], taxonomies: list[dict] | None = None) -> None:
    """figures: (title, caption, svg bytes); tables: (title, table html); taxonomies: taxonomy.json trees."""
    with replacing(path, "w", encoding="utf-8") as out:
        out.write(f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
                  f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
                  f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
                  f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>\n"
                  '<nav><a href="#figures">Figures</a><a href="#tables">Tables</a>'
                  + ('<a href="#taxonomy">Taxonomy</a>' if taxonomies else '')
                  + '<a href="#browser">Transcripts</a></nav>\n<section id="figures"><h2>Figures</h2>\n')
        for name, caption, svg in figures:
            out.write(f'<figure><img alt="{html.escape(name, quote=True)}" src="data:image/svg+xml;base64,'
                      f'{base64.b64encode(svg).decode()}"><figcaption>{html.escape(caption)}</figcaption></figure>\n')
        out.write('</section>\n<section id="tables"><h2>Tables</h2>\n')
        for name, table in tables:
            out.write(f"<h3>{html.escape(name)}</h3>\n{table}\n")
        out.write("</section>\n")
        if taxonomies:
            out.write('<section id="taxonomy"><h2>Taxonomy of bail situations</h2>\n')
            for t, tree in enumerate(taxonomies):
                write_taxonomy(out, t, tree, runs)
            out.write("</section>\n")
        out.write(f'<section id="browser"><h2>Transcripts</h2>\n{FILTERS}</section>\n')
        index = write_samples(runs, out)
        out.write(f'<script type="application/octet-stream" id="index">{_b64gz(index)}</script>\n')
        out.write(f"<script>{SCRIPT}</script>\n</body></html>\n")


def _rates_text(rates: dict) -> str:
    return "; ".join(f"{model}: " + ", ".join(f"{m} {100 * v['rate']:.0f}% ({v['bails']}/{v['n']})"
                                              for m, v in ms.items() if v.get("rate") is not None)
                     for model, ms in rates.items())


def write_taxonomy(out, t: int, tree: dict, runs: list[ReportRun]) -> None:
    """One taxonomy as a collapsible tree (every value escaped); leaf members travel as one
    compressed blob that the page's script maps to transcripts."""
    here = {str(r.path.resolve()): i for i, r in enumerate(runs)}
    to_report = [here.get(r["path"]) for r in tree["runs"]]
    total = max(tree["n_cases"], 1)
    leaves: dict[str, list] = {}
    g = tree.get("garbage_summaries", {})
    missing = sum(1 for i in to_report if i is None)
    out.write(f'<div data-tax="{t}"><p>{_e(tree["n_cases"])} bail cases from {len(tree["runs"])} run(s); '
              f'summarizer {_e(tree["summarizer"])}, embedder {_e(tree["embedder"])}, '
              f'{_e(tree["base_clusters"])} base clusters; unusable summaries: {_e(g.get("count", 0))}'
              + (f"; {missing} of its runs are not in this report, their cases cannot be opened" if missing else "")
              + ". Open a node for its description, bail rates and examples.</p>\n")

    def node(n: dict) -> None:
        leaf = not n.get("children")
        attrs = f' data-leaf="{_e(n["id"])}"' if leaf else ""
        if leaf:
            leaves[n["id"]] = [[to_report[r], k] for r, k in n.get("members", []) if to_report[r] is not None]
        kw = '<span class="tx-kw"> (named from distinctive words)</span>' if n.get("named_by") == "keywords" else ""
        out.write(f'<details class="tx-node"{attrs}><summary><b>{_e(n["name"])}</b>'
                  f'<span class="tx-size">{_e(n["size"])} cases, {100 * n["size"] / total:.0f}%</span>{kw}</summary>'
                  '<div class="tx-body">')
        if n.get("description"):
            out.write(f"<p>{_e(n['description'])}</p>")
        if n.get("bail_rates"):
            out.write(f"<p>bail rates: {_e(_rates_text(n['bail_rates']))}</p>")
        out.write(f'<button class="tx-show" data-name="{_e(n["name"])}">show these {_e(n["size"])} cases in the '
                  "transcripts</button>")
        for ex in n.get("examples", []):
            r = to_report[ex["run"]]
            if r is None:
                continue
            out.write(f'<p><button class="tx-case" data-run="{r}" data-key="{_e(ex["key"])}">'
                      f"open</button>{_e(ex['summary'])}</p>")
        out.write("</div>")
        for ch in n.get("children", []):
            node(ch)
        out.write("</details>\n")

    for ch in tree["tree"]["children"]:
        node(ch)
    out.write(f'<script type="application/octet-stream" class="tx-members" data-tax="{t}">{_b64gz(leaves)}</script>'
              "</div>\n")
