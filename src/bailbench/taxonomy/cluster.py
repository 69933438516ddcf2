"""Step 3: k-means into base clusters, and each cluster's nearest members and nearest
outsiders (the examples its name is written from).

Embeddings arrive as a stream of chunks, so memory stays bounded however many cases
there are: KMeans (scikit-learn) when they fit in one chunk, MiniBatchKMeans fitted
chunk by chunk beyond that."""

from __future__ import annotations

import math
from typing import Callable, Iterator

import numpy as np

Chunks = Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]  # yields (case ids, unit-length rows)

FULL_KMEANS_UP_TO = 5000  # cases; beyond this, MiniBatchKMeans over chunks
EPOCHS = 3


def default_k(n: int) -> int:
    """About n/10 clusters, as OpenClio's default; at least 2 when there are 2 cases."""
    return max(1, min(n, max(2, round(n / 10)))) if n > 1 else 1


def fit(chunks: Chunks, n: int, k: int, seed: int) -> np.ndarray:
    """Cluster centres (k x dim)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if k <= 1:
        total: np.ndarray | None = None
        count = 0
        for _, x in chunks():
            total = x.sum(0) if total is None else total + x.sum(0)
            count += len(x)
        assert total is not None, "no cases to cluster"
        return (total / max(count, 1))[None, :].astype(np.float32)
    if n <= FULL_KMEANS_UP_TO:
        x = np.concatenate([c for _, c in chunks()])
        return KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x).cluster_centers_.astype(np.float32)
    km = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=2048, n_init=1, init_size=max(3 * k, 2048),
                         reassignment_ratio=0.01)
    for _ in range(EPOCHS):
        pending = None  # partial_fit's first call needs at least k rows
        for _, x in chunks():
            pending = x if pending is None else np.concatenate([pending, x])
            if len(pending) >= max(k, 1024):
                km.partial_fit(pending)
                pending = None
        if pending is not None and (hasattr(km, "cluster_centers_") or len(pending) >= k):
            km.partial_fit(pending)
    return km.cluster_centers_.astype(np.float32)


def _sqdist(x: np.ndarray, centres: np.ndarray, c2: np.ndarray) -> np.ndarray:
    return np.maximum((x * x).sum(1)[:, None] - 2 * x @ centres.T + c2[None, :], 0)


class Examples:
    """For each cluster: its `inner` members nearest the centre, and the `outer` nearest
    cases of other clusters (ids, nearest first)."""

    def __init__(self, k: int, inner: int, outer: int):
        self.k, self.n_in, self.n_out = k, inner, outer
        self.in_ids = np.full((k, inner), -1, dtype=np.int64)
        self.in_d = np.full((k, inner), np.inf, dtype=np.float32)
        self.out_ids = np.full((k, outer), -1, dtype=np.int64)
        self.out_d = np.full((k, outer), np.inf, dtype=np.float32)
        self.sizes = np.zeros(k, dtype=np.int64)

    def update(self, ids: np.ndarray, labels: np.ndarray, d: np.ndarray) -> None:
        rows = np.arange(len(ids))
        own = d[rows, labels]
        np.add.at(self.sizes, labels, 1)
        for c in np.unique(labels):  # members nearest their centre
            sel = labels == c
            ids_c = np.concatenate([self.in_ids[c], ids[sel]])
            d_c = np.concatenate([self.in_d[c], own[sel]])
            top = np.argsort(d_c, kind="stable")[: self.n_in]
            self.in_ids[c], self.in_d[c] = ids_c[top], d_c[top]
        if self.n_out and self.k > 1:  # outsiders nearest each centre
            masked = d.copy()
            masked[rows, labels] = np.inf
            m = min(self.n_out, len(ids))
            part = np.argpartition(masked, m - 1, axis=0)[:m] if m < len(ids) else np.tile(rows[:, None], (1, self.k))
            cand_d = np.take_along_axis(masked, part, axis=0).T  # k x m
            all_d = np.concatenate([self.out_d, cand_d], axis=1)
            all_ids = np.concatenate([self.out_ids, ids[part].T], axis=1)
            top = np.argsort(all_d, axis=1, kind="stable")[:, : self.n_out]
            self.out_d = np.take_along_axis(all_d, top, axis=1)
            self.out_ids = np.take_along_axis(all_ids, top, axis=1)

    def inner(self, c: int) -> list[int]:
        return [int(i) for i in self.in_ids[c] if i >= 0]

    def outer(self, c: int) -> list[int]:
        return [int(i) for i, d in zip(self.out_ids[c], self.out_d[c]) if i >= 0 and math.isfinite(d)]


def assign(chunks: Chunks, centres: np.ndarray, *, inner: int = 8, outer: int = 6,
           on_labels: Callable[[np.ndarray, np.ndarray], None] | None = None) -> Examples:
    """Label every case with its nearest centre (streamed to `on_labels`) and gather examples."""
    c2 = (centres * centres).sum(1)
    ex = Examples(len(centres), inner, outer)
    block = max(256, (1 << 24) // max(1, len(centres)))  # rows per distance block: about 64 MB of float32
    for ids, x in chunks():
        for i in range(0, len(ids), block):
            xi, idi = x[i:i + block], ids[i:i + block]
            d = _sqdist(xi, centres, c2)
            labels = d.argmin(1)
            ex.update(idi, labels, d)
            if on_labels is not None:
                on_labels(idi, labels)
    return ex


def kmeans_labels(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Labels of an in-memory matrix (cluster names, dataset validation)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if k <= 1 or len(x) <= 1:
        return np.zeros(len(x), dtype=np.int64)
    k = min(k, len(x))
    if len(x) <= FULL_KMEANS_UP_TO:
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
    return MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=2048).fit_predict(x)
