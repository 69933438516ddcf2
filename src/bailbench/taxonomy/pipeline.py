"""The order of the steps: cases, summaries, embeddings, base clusters, names, parents,
output. Each step reads what the cache already holds and computes only the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..backends.registry import BackendOptions
from ..errors import UserError
from ..execute import Reporter, Silent
from ..methods import resolve_methods
from ..store import Store
from . import cluster, hierarchy, output
from .cases import RunInfo, case_texts, collect, load_runs
from .embed import Embedder
from .hierarchy import Node
from .llm import Asker
from .naming import name_clusters
from .store import TaxonomyStore, sha
from .summarize import PREFIX, clean, garbage, question

NONE = "none"  # --summarizer none: the raw request stands for the summary, names from distinctive words
BATCH = 64
CHUNK = 4096


@dataclass(frozen=True)
class TaxonomyConfig:
    runs: tuple[Path, ...]
    methods: str | None = None  # comma list of bail methods; None = every bail method
    summarizer: str = "smollm2"
    embedder: Path | None = None
    clusters: int | None = None  # base clusters; None = about n/10
    levels: int = 3  # levels of the tree, base clusters included
    out: Path | None = None
    seed: int = 0
    options: BackendOptions = field(default_factory=lambda: BackendOptions(n_ctx=4096))


@dataclass
class TaxonomyResult:
    out: Path
    tree: dict
    stats: dict


def embed_text(summary: str | None, bad: str | None, prompt: str) -> str:
    """What a case is embedded as: its summary, or its raw request when the summary was garbage."""
    return summary if summary and not bad else "Request: " + (prompt or "")[:400]


class Taxonomy:
    def __init__(self, cfg: TaxonomyConfig, reporter: Reporter | None = None, asker: Asker | None = None):
        self.cfg = cfg
        self.reporter = reporter or Silent()
        if cfg.levels < 1:
            raise UserError("--levels must be at least 1")
        if cfg.clusters is not None and cfg.clusters < 1:
            raise UserError("--clusters must be at least 1")
        self.methods = None
        if cfg.methods:
            self.methods = tuple(m for m in resolve_methods(cfg.methods) if m != "rollout")
            if not self.methods:
                raise UserError("--method rollout has no bails: choose tool, string, prompt-bail-first or "
                                "prompt-continue-first")
        self.runs: list[RunInfo] = load_runs(list(cfg.runs))
        self.out = cfg.out or (cfg.runs[0] / "taxonomy" if len(cfg.runs) == 1 else Path("taxonomy"))
        self.embedder = Embedder(cfg.embedder)  # checks the folder before any work
        self.store = TaxonomyStore(self.out)
        self.embedder.store = self.store
        self.asker = None if cfg.summarizer == NONE else (
            asker or Asker(cfg.summarizer, self.store, options=cfg.options, seed=cfg.seed))
        if self.asker is not None and self.asker.store is not self.store:
            self.asker.store = self.store
        self.counts: dict = {}

    # -- steps ------------------------------------------------------------------------
    def summarize(self) -> None:
        n = self.store.n_cases()
        self.reporter.start(n, f"summaries ({self.cfg.summarizer})")
        stores = {i: Store(r.path, create=False) for i, r in enumerate(self.runs)}
        try:
            for batch in self.store.iter_cases("id, run, key, prompt", BATCH):
                if self.asker is None:
                    self.store.set_summaries([(i, (p or "")[:400], None) for i, _, _, p in batch])
                    self.reporter.advance(len(batch))
                    continue
                texts = {}
                for run in {r for _, r, _, _ in batch}:
                    texts[run] = case_texts(self.runs[run], stores[run], [k for _, r, k, _ in batch if r == run])
                questions = [question(texts[r][k]) for _, r, k, _ in batch]
                answers = self.asker.ask(questions, prefix=PREFIX, max_tokens=80,
                                         retry=lambda t: garbage(clean(t)) is not None)
                self.store.set_summaries([(i, clean(a), garbage(clean(a))) for (i, _, _, _), a in zip(batch, answers)])
                self.reporter.advance(len(batch))
        finally:
            for s in stores.values():
                s.close()

    def embed(self) -> None:
        self.reporter.start(self.store.n_cases(), f"embeddings ({self.embedder.path.name})")
        for batch in self.store.iter_cases("id, summary, garbage, prompt", 512):
            self.embedder.ensure([embed_text(s, g, p) for _, s, g, p in batch])
            self.reporter.advance(len(batch))

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for batch in self.store.iter_cases("id, summary, garbage, prompt", CHUNK):
            keys = [sha(embed_text(s, g, p)) for _, s, g, p in batch]
            vecs = self.store.embeddings(set(keys), self.embedder.id)
            yield np.array([r[0] for r in batch], dtype=np.int64), np.stack([vecs[k] for k in keys])

    def summaries_of(self, ids: list[int]) -> dict[int, tuple[str, str, str]]:
        """id -> (text embedded, run key, garbage reason)"""
        out = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = f"SELECT id, summary, garbage, prompt, run, key FROM cases WHERE id IN ({','.join('?' * len(chunk))})"
            for cid, s, g, p, run, key in self.store.db.execute(q, chunk):
                out[cid] = (embed_text(s, g, p), f"{run}|{key}", g)
        return out

    def base_clusters(self, n: int) -> tuple[list[Node], cluster.Examples]:
        k = min(n, self.cfg.clusters or cluster.default_k(n))
        self.reporter.start(2, f"k-means: {n} cases into {k} clusters (fit, assign)")
        centres = cluster.fit(self.chunks, n, k, self.cfg.seed)
        self.reporter.advance(1)
        ex = cluster.assign(self.chunks, centres, on_labels=lambda ids, labs: self.store.set_labels(
            list(zip(ids.tolist(), labs.tolist()))))
        self.reporter.advance(1)
        live = [c for c in range(len(centres)) if ex.sizes[c] > 0]
        wanted = sorted({i for c in live for i in ex.inner(c) + ex.outer(c)})
        texts = self.summaries_of(wanted)
        groups = [([texts[i][0] for i in ex.inner(c)], [texts[i][0] for i in ex.outer(c)]) for c in live]
        self.reporter.start(len(groups), f"cluster names ({self.cfg.summarizer})")
        named = name_clusters(self.asker, groups, self.reporter) if self.asker else \
            name_clusters(_NoModel(), groups)
        nodes = []
        for c, nm in zip(live, named):
            if nm.named_by != "model" and self.asker is not None:
                self.counts["cluster_names_unusable"] = self.counts.get("cluster_names_unusable", 0) + 1
            nodes.append(Node(id=f"C{c}", level=0, named=nm, size=int(ex.sizes[c]),
                              cases=[i for i in ex.inner(c)]))
        return nodes, ex

    def execute(self) -> TaxonomyResult:
        n = collect(self.runs, self.methods, self.store)
        self.summarize()
        self.embed()
        base, _ = self.base_clusters(n)
        self.reporter.start(len(hierarchy.level_sizes(len(base), self.cfg.levels)), "parent levels")
        top = hierarchy.build(base, self.cfg.levels, self.asker, self.embedder, self.cfg.seed, self.reporter,
                              self.counts)
        self.reporter.stop() if hasattr(self.reporter, "stop") else None
        stats = {"cases": n, "base_clusters": len(base),
                 "model_requests": self.asker.asked if self.asker else 0,
                 "model_answers_reused": self.asker.reused if self.asker else 0,
                 "embeddings_computed": self.embedder.computed, "embeddings_reused": self.embedder.reused,
                 **self.counts}
        tree = output.write(self, base, top, stats)
        if self.asker:
            self.asker.close()
        self.store.close()
        return TaxonomyResult(self.out, tree, stats)


class _NoModel:
    """--summarizer none: no model answers; every name comes from distinctive words."""

    def ask(self, questions, **_):
        return [""] * len(questions)


def build_taxonomy(cfg: TaxonomyConfig, reporter: Reporter | None = None, asker: Asker | None = None
                   ) -> TaxonomyResult:
    """Build (or resume) the taxonomy of the bail cases of `cfg.runs`; the library entry point."""
    return Taxonomy(cfg, reporter, asker).execute()
