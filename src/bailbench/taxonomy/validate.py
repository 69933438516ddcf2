"""`bailbench taxonomy --dataset`: do the clusters recover a dataset's own categories?
NMI and ARI against its categories and subcategories, for clusters of the model's
summaries and, measured in the same invocation, for the raw prompts embedded and
clustered with no summary and no naming (the baseline)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets.records import stratified
from ..datasets.registry import load_dataset
from ..errors import UserError
from .cluster import kmeans_labels
from .embed import Embedder
from .store import TaxonomyStore
from .summarize import PREFIX, clean, garbage, prompt_question


@dataclass
class Validation:
    dataset: str
    n_prompts: int  # prompts summarized (the subset)
    n_all: int  # prompts in the dataset
    rows: list[dict]  # one per (method, prompts, labels)
    garbage: int


def scores(labels_true: list[str], labels_pred) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {"nmi": round(float(normalized_mutual_info_score(labels_true, labels_pred)), 4),
            "ari": round(float(adjusted_rand_score(labels_true, labels_pred)), 4)}


def validate(dataset: str, *, data_dir: str | None, limit: int | None, asker, embedder: Embedder,
             store: TaxonomyStore, seed: int = 0, reporter=None) -> Validation:
    ds = load_dataset(dataset, data_dir)
    prompts = ds.prompts
    if not prompts or not any(p.category for p in prompts):
        raise UserError(f"dataset {dataset!r} has no categories to compare clusters with: give a dataset whose "
                        "rows carry a category (a CSV with a `category` column)")
    subset = stratified(prompts, limit)
    rows: list[dict] = []

    def measure(method: str, vecs: np.ndarray, ps) -> None:
        for field in ("category", "subcategory"):
            truth = [getattr(p, field) for p in ps]
            k = len(set(truth))
            if k < 2:
                continue
            pred = kmeans_labels(vecs, k, seed)
            rows.append({"method": method, "prompts": len(ps), "labels": field, "k": k, **scores(truth, pred)})

    if reporter:
        reporter.start(len(prompts), "raw prompts: embeddings")
    raw_all = embedder.embed([p.content for p in prompts], reporter)
    measure("raw prompts (baseline)", raw_all, prompts)
    index = {p.id: i for i, p in enumerate(prompts)}
    if len(subset) < len(prompts):
        measure("raw prompts (baseline)", raw_all[[index[p.id] for p in subset]], subset)
    if asker is None:
        return Validation(ds.name, len(subset), len(prompts), rows, 0)
    if reporter:
        reporter.start(len(subset), f"summaries ({asker.spec})")
    answers = asker.ask([prompt_question(p.content) for p in subset], prefix=PREFIX, max_tokens=80,
                        reporter=reporter, retry=lambda t: garbage(clean(t)) is not None)
    summaries = [clean(a) for a in answers]
    bad = [garbage(s) for s in summaries]
    texts = [s if b is None else "Request: " + p.content[:400] for s, b, p in zip(summaries, bad, subset)]
    if reporter:
        reporter.start(len(texts), "summaries: embeddings")
    measure(f"summaries ({asker.spec})", embedder.embed(texts, reporter), subset)
    return Validation(ds.name, len(subset), len(prompts), rows, sum(b is not None for b in bad))
