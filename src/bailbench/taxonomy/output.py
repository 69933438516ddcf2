"""taxonomy.json (the tree: names, sizes, bail rates by model and method, member sample
keys) and taxonomy.md (a readable listing with examples)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from ..safe_io import NUMBER, ListOf, MapOf, Opt, check_shape, read_json, write_text
from ..store import Store

if TYPE_CHECKING:
    from .hierarchy import Node

EXAMPLES = 3
GARBAGE_SHOWN = 50


def _context_counts(tax) -> dict[tuple[int, str], dict[str, list[int]]]:
    """(run, context id) -> method -> [samples, bails], for the contexts that have a bail case."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for (run, ctx) in tax.store.db.execute("SELECT DISTINCT run, context_id FROM cases"):
        wanted[run].add(ctx)
    out: dict[tuple[int, str], dict[str, list[int]]] = {}
    for run, ctxs in wanted.items():
        info = tax.runs[run]
        db = Store(info.path, create=False)
        ctx_sql = "prompt_id || '|' || sample" if info.realdata else "prompt_id"
        q = (f"SELECT {ctx_sql}, method, count(*), sum(verdict = 'bail') FROM samples "
             "WHERE verdict IS NOT NULL AND skipped IS NULL GROUP BY 1, 2")
        for ctx, method, n, bails in db.db.execute(q):
            if ctx in ctxs:
                out.setdefault((run, ctx), {})[method] = [n, bails or 0]
        db.close()
    return out


def _rates(contexts: set[tuple[int, str]], counts, runs) -> dict:
    agg: dict[str, dict[str, list[int]]] = {}
    for run, ctx in contexts:
        model = runs[run].model
        for method, (n, b) in counts.get((run, ctx), {}).items():
            cell = agg.setdefault(model, {}).setdefault(method, [0, 0])
            cell[0] += n
            cell[1] += b
    return {m: {meth: {"bails": b, "n": n, "rate": round(b / n, 4) if n else None}
                for meth, (n, b) in sorted(ms.items())} for m, ms in sorted(agg.items())}


def write(tax, base: list[Node], top: list[Node], stats: dict) -> dict:
    members: dict[int, list[list]] = defaultdict(list)
    contexts: dict[int, set] = defaultdict(set)
    for label, run, key, ctx in tax.store.db.execute("SELECT label, run, key, context_id FROM cases ORDER BY label, id"):
        members[label].append([run, key])
        contexts[label].add((run, ctx))
    counts = _context_counts(tax)
    example_ids = sorted({i for b in base for i in b.cases[:EXAMPLES]})
    texts = tax.summaries_of(example_ids)

    def node_json(node: Node) -> tuple[dict, list, set]:
        kids: list[dict] = []
        if node.level == 0:
            c = int(node.id[1:])
            mem, ctx = members[c], contexts[c]
            examples = [{"run": int(texts[i][1].split("|", 1)[0]), "key": texts[i][1].split("|", 1)[1],
                         "summary": texts[i][0], **({"garbage": texts[i][2]} if texts[i][2] else {})}
                        for i in node.cases[:EXAMPLES]]
        else:
            mem, ctx = [], set()
            for ch in node.children:
                j, m, cx = node_json(ch)
                kids.append(j)
                mem += m
                ctx |= cx
            examples = []
        d = {"id": node.id, "name": node.named.name, "description": node.named.description,
             "named_by": node.named.named_by, "level": node.level, "size": len(mem),
             "bail_rates": _rates(ctx, counts, tax.runs), "members": mem}
        if examples:
            d["examples"] = examples
        if node.named.raw and node.named.named_by != "model":
            d["unusable_model_answer"] = node.named.raw[:300]
        if kids:
            d["children"] = sorted(kids, key=lambda k: -k["size"])
        return d, mem, ctx

    children, all_ctx, total = [], set(), 0
    for t in top:
        j, m, cx = node_json(t)
        children.append(j)
        all_ctx |= cx
        total += len(m)
    bad = tax.store.db.execute("SELECT garbage, count(*) FROM cases WHERE garbage IS NOT NULL GROUP BY 1").fetchall()
    shown = tax.store.db.execute("SELECT run, key, garbage, summary FROM cases WHERE garbage IS NOT NULL ORDER BY id "
                                 "LIMIT ?", (GARBAGE_SHOWN,)).fetchall()
    tree = {
        "kind": "bail_taxonomy",
        "runs": [{"path": str(r.path.resolve()), "model": r.model, "dataset": r.summary.get("dataset"),
                  "kind": "realdata" if r.realdata else "bailbench"} for r in tax.runs],
        "methods": list(tax.methods) if tax.methods else "all",
        "summarizer": tax.cfg.summarizer, "embedder": tax.embedder.id, "seed": tax.cfg.seed,
        "levels": tax.cfg.levels, "n_cases": total, "base_clusters": len(base), "stats": stats,
        "garbage_summaries": {"count": sum(c for _, c in bad), "by_reason": dict(bad),
                              "note": "these cases were clustered by their raw request instead of a summary",
                              "first": [{"run": r, "key": k, "reason": g, "answer": (s or "")[:300]}
                                        for r, k, g, s in shown]},
        "tree": {"id": "root", "name": "All bail cases", "description": "", "level": len(top) and top[0].level + 1,
                 "size": total, "bail_rates": _rates(all_ctx, counts, tax.runs),
                 "children": sorted(children, key=lambda k: -k["size"])},
    }
    write_text(tax.out / "taxonomy.json", json.dumps(tree, ensure_ascii=False) + "\n")
    write_text(tax.out / "taxonomy.md", markdown(tree))
    return tree


# What the report reads of a taxonomy.json (its numbers are numbers, its text is text).
_RATES = MapOf(MapOf({"rate": Opt(NUMBER), "bails": int, "n": int}))
_NODE: dict = {"id": str, "name": str, "size": int, "description": Opt(Opt(str)), "named_by": Opt(Opt(str)),
               "bail_rates": Opt(_RATES), "members": Opt(ListOf(list)),
               "examples": Opt(ListOf({"run": int, "key": str, "summary": str}))}
_NODE["children"] = Opt(ListOf(_NODE))
TREE_SHAPE = {"kind": str, "runs": ListOf({"path": str}), "summarizer": str, "embedder": str, "n_cases": int,
              "base_clusters": int, "garbage_summaries": Opt({"count": int}), "tree": {"children": ListOf(_NODE)}}


def _check_refs(node: dict, n_runs: int, where: str) -> None:
    """Members and examples name runs of the tree by index, and samples by key."""
    stack = list(node["children"])
    while stack:
        n = stack.pop()
        refs = [tuple(m) for m in n.get("members", [])] + [(e["run"], e["key"]) for e in n.get("examples", [])]
        for ref in refs:
            if len(ref) != 2 or not (isinstance(ref[0], int) and 0 <= ref[0] < n_runs) or not isinstance(ref[1], str):
                raise UserError(f"{where}: node {n['id'][:40]!r} names a case {str(list(ref))[:60]} that is not "
                                "[run index, sample key]; rebuild it with `bailbench taxonomy`")
        stack += n.get("children", [])


def read_tree(path: Path) -> dict:
    """A taxonomy.json as `bailbench taxonomy` writes it, checked before anything shows it."""
    fix = "rebuild it with `bailbench taxonomy`"
    tree = read_json(path, "a taxonomy", fix)
    if not isinstance(tree, dict) or tree.get("kind") != "bail_taxonomy":
        raise UserError(f"{path} is not a taxonomy.json written by `bailbench taxonomy`")
    check_shape(tree, TREE_SHAPE, str(path), f"it is damaged; {fix}")
    _check_refs(tree["tree"], len(tree["runs"]), str(path))
    return tree


def _rate_line(rates: dict) -> str:
    parts = []
    for model, ms in rates.items():
        cells = ", ".join(f"{m} {100 * v['rate']:.0f}% ({v['bails']}/{v['n']})" for m, v in ms.items()
                          if v["rate"] is not None)
        parts.append(f"{model}: {cells}")
    return "; ".join(parts)


def markdown(tree: dict) -> str:
    g = tree["garbage_summaries"]
    lines = ["# Taxonomy of bail situations", "",
             f"{tree['n_cases']} bail cases from {len(tree['runs'])} run(s) "
             f"({', '.join(r['path'] for r in tree['runs'])}); summarizer `{tree['summarizer']}`, embedder "
             f"`{tree['embedder']}`, {tree['base_clusters']} base clusters, seed {tree['seed']}.", "",
             f"Unusable summaries: {g['count']}" + (f" ({', '.join(f'{k}: {v}' for k, v in g['by_reason'].items())}; "
                                                    "clustered by their raw request)" if g["count"] else ""), "",
             "Bail rates are over every sample of the prompts (or conversation turns) in a cluster, per model and "
             "method.", ""]
    total = max(tree["n_cases"], 1)

    def walk(node: dict, depth: int) -> None:
        flag = " _(named from distinctive words)_" if node.get("named_by") == "keywords" else ""
        lines.append(f"{'  ' * depth}- **{_md(node['name'])}** ({node['size']} cases, "
                     f"{100 * node['size'] / total:.0f}%){flag}" +
                     (f": {_md(node['description'])}" if node.get("description") else ""))
        if node["bail_rates"]:
            lines.append(f"{'  ' * depth}  - bail rates: {_md(_rate_line(node['bail_rates']))}")
        for ex in node.get("examples", []):
            lines.append(f"{'  ' * depth}  - e.g. `{_md(ex['key'])}`: {_md(ex['summary'])}"
                         + (f" _(summary unusable: {ex['garbage']})_" if ex.get("garbage") else ""))
        for ch in node.get("children", []):
            walk(ch, depth + 1)

    for ch in tree["tree"]["children"]:
        walk(ch, 0)
    if g["first"]:
        lines += ["", "## Unusable summaries", ""]
        lines += [f"- `{_md(x['key'])}` ({x['reason']}): {_md(x['answer']) or '(empty)'}" for x in g["first"]]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return " ".join(str(text).split()).replace("`", "'")
