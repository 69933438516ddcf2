"""Step 5: parents level by level, as Clio builds them: embed the clusters' names, group
them into neighbourhoods, have the model propose parent names for each neighbourhood,
deduplicate the proposals to the level's size, assign each child to its nearest parent,
and rename each parent from the children it got."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from .cluster import kmeans_labels
from .naming import NAME_PREFIX, PARENT_QUESTION, RENAME_QUESTION, Named, bullet, keywords, name_from, name_garbage

NEIGHBOURHOOD = 40  # clusters shown to the model at once


@dataclass
class Node:
    id: str
    level: int  # 0 = base clusters
    named: Named
    children: list["Node"] = field(default_factory=list)
    cases: list[int] = field(default_factory=list)  # base clusters: case ids
    size: int = 0

    def text(self) -> str:
        return f"{self.named.name}: {self.named.description}" if self.named.description else self.named.name


def level_sizes(n_base: int, levels: int) -> list[int]:
    """Clusters per level above the base: geometric from n_base down to about n_base**(1/levels)."""
    if levels <= 1 or n_base <= 2:
        return []
    top = max(2, round(n_base ** (1 / levels)))
    ratio = (n_base / top) ** (1 / (levels - 1))
    sizes, prev = [], n_base
    for i in range(1, levels):
        s = max(top, round(n_base / ratio ** i))
        if s >= prev:
            break
        sizes.append(s)
        prev = s
    return sizes


def _proposals(answer: str, wanted: int = 1) -> list[str]:
    """Names from a list answer; a single line of several names ("A, B and C") is split when
    more than one was asked for."""
    lines = [ln for ln in answer.splitlines() if ln.strip()]
    if len(lines) == 1 and wanted > 1:
        lines = re.split(r",\s*(?:and\s+)?|\s+and\s+|;\s*", lines[0])
    out = []
    for line in lines:
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip().strip("*\"'`").rstrip(".")
        line = re.sub(r"^(?:name|category)\s*:\s*", "", line, flags=re.IGNORECASE)
        if line and name_garbage(line) is None:
            out.append(line[:120])
    return out


def build_level(children: list[Node], target: int, level: int, asker, embedder, seed: int, reporter=None,
                counts: dict | None = None) -> list[Node]:
    counts = counts if counts is not None else {}
    vecs = embedder.embed([c.text() for c in children])
    n_nb = max(1, math.ceil(len(children) / NEIGHBOURHOOD))
    nb = kmeans_labels(vecs, n_nb, seed)
    groups = [[c for c, lab in zip(children, nb) if lab == g] for g in range(n_nb)]
    groups = [g for g in groups if g]
    questions = [PARENT_QUESTION.format(children=bullet([c.named.name for c in g], 120),
                                        count=max(1, math.ceil(target * len(g) / len(children))))
                 for g in groups]
    answers = asker.ask(questions, max_tokens=24 * max(2, target), reporter=reporter) if asker else [""] * len(groups)
    candidates: list[str] = []
    origin: dict[str, str] = {}
    for a, g in zip(answers, groups):
        got = list(dict.fromkeys(_proposals(a, max(1, math.ceil(target * len(g) / len(children))))))
        origin.update({c: "model" for c in got})
        if not got:  # an unusable answer: the neighbourhood's distinctive words stand in, counted
            counts["parents_from_keywords"] = counts.get("parents_from_keywords", 0) + (1 if asker else 0)
            inside = {id(c) for c in g}
            got = [f"Cases about {keywords([c.text() for c in g], [c.text() for c in children if id(c) not in inside], 3)}"]
            origin.setdefault(got[0], "keywords")
        candidates += got
    candidates = list(dict.fromkeys(candidates))
    cvecs = embedder.embed(candidates)
    if len(candidates) > target:  # deduplicate: near-identical proposals merge, the most central one stays
        labels = kmeans_labels(cvecs, target, seed)
        keep = []
        for label in range(target):
            idx = np.flatnonzero(labels == label)
            if len(idx):
                centre = cvecs[idx].mean(0)
                keep.append(idx[np.argmax(cvecs[idx] @ centre)])
        candidates, cvecs = [candidates[i] for i in keep], cvecs[keep]
    best = (vecs @ cvecs.T).argmax(1)  # each child to its nearest parent
    parents = []
    for p, cand in enumerate(candidates):
        kids = [c for c, b in zip(children, best) if b == p]
        if kids:
            parents.append((cand, kids))
    renames = [RENAME_QUESTION.format(children=bullet([k.text() for k in kids], 200)) for _, kids in parents]
    answers = asker.ask(renames, prefix=NAME_PREFIX, max_tokens=64, reporter=reporter) if asker else [""] * len(parents)
    nodes = []
    for i, ((cand, kids), a) in enumerate(zip(parents, answers)):
        named = name_from(a, [k.text() for k in kids], [])
        if named.named_by != "model":  # the proposal that gathered these children still names them
            counts["parent_names_unusable"] = counts.get("parent_names_unusable", 0) + (1 if asker else 0)
            named = Named(cand, named.description, origin.get(cand, "keywords"), named.raw)
        nodes.append(Node(id=f"L{level}.{i}", level=level, named=named, children=kids,
                          size=sum(k.size for k in kids)))
    return nodes


def build(base: list[Node], levels: int, asker, embedder, seed: int, reporter=None, counts: dict | None = None
          ) -> list[Node]:
    """The top level of the tree (the base clusters when no level above them is built)."""
    current = base
    for level, target in enumerate(level_sizes(len(base), levels), start=1):
        if target >= len(current) or target < 2:
            break
        current = build_level(current, target, level, asker, embedder, seed, None, counts)
        if reporter is not None:
            reporter.advance(1)
    return current
