"""`bailbench activations RUN`: the residual stream at a run's sites, stored beside it.

RUN/activations/ holds `meta.json` (model, layers, hidden size), float16 shards
`shard-NNNNN.npy` of shape (reads, layers, hidden) and `index.jsonl`, one line per read
naming its shard and row. A shard is written whole (temporary file, then rename) before its
index lines are appended, so a killed run loses at most the shard in flight, and a rerun
computes only the reads the index lacks. Memory is bounded by one shard.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import UserError
from ..safe_io import make_dir, write_json, write_text
from ..store import Store
from .sites import Read, Sequence, context_rows, plan

FOLDER = "activations"
INDEX = "index.jsonl"
META = "meta.json"


@dataclass(frozen=True)
class Stored:
    """What `compute_activations` did."""

    folder: Path
    new_reads: int
    reused_reads: int
    layers: tuple[int, ...]


def parse_layers(text: str, n_layers: int) -> tuple[int, ...]:
    """`all`, or a comma list of layers and ranges (`0,4,8-11`)."""
    if text == "all":
        return tuple(range(n_layers))
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out += range(int(lo), int(hi or lo) + 1)
    except ValueError:
        raise UserError(f"--layers {text!r}: give all, or layers and ranges such as 0,4,8-11") from None
    bad = [x for x in out if not 0 <= x < n_layers]
    if bad or not out:
        raise UserError(f"--layers {text!r}: layers run from 0 to {n_layers - 1}")
    return tuple(sorted(set(out)))


def hf_spec(run_dir: Path) -> str:
    """The run's model on transformers (`smollm2`, gguf: and vllm: name weights hf loads too)."""
    store = Store(run_dir, create=False)
    try:
        spec = (store.identity() or {}).get("model", "")
    finally:
        store.close()
    provider, _, name = spec.partition(":")
    if spec == "smollm2":
        return "hf:smollm2"
    if provider in ("hf", "gguf", "vllm") and name:
        return f"hf:{name}"
    raise UserError(f"{run_dir} was run with {spec or 'an unknown model'}, whose activations transformers cannot "
                    "compute; pass --model hf:NAME with the same weights")


def _meta(backend, layers: tuple[int, ...]) -> dict:
    return {"format": 1, "model_id": backend.model_id, "layers": list(layers),
            "hidden": int(backend.model.config.hidden_size), "dtype": "float16"}


class Folder:
    """The activations folder of one run: its meta, index and shards."""

    def __init__(self, path: Path):
        self.path = path

    def meta(self) -> dict | None:
        f = self.path / META
        return json.loads(f.read_text()) if f.is_file() else None

    def index(self) -> list[dict]:
        f = self.path / INDEX
        if not f.is_file():
            return []
        return [json.loads(line) for line in f.read_text().splitlines()]

    def open(self, meta: dict) -> None:
        """Start or resume: the meta must match; an index line cut off by a kill is dropped."""
        have = self.meta()
        if have is not None and have != meta:
            raise UserError(f"{self.path} holds activations of {have['model_id']} at layers {have['layers']}; "
                            "pass the same --layers and --model to resume, or delete it to start again")
        make_dir(self.path)
        if have is None:
            write_json(self.path / META, meta, indent=2)
        index = self.path / INDEX
        if index.is_file():
            text = index.read_text()
            if not text.endswith("\n"):
                write_text(index, text[:text.rfind("\n") + 1])

    def write(self, shard: int, reads: list[Read], values: np.ndarray) -> None:
        name = f"shard-{shard:05d}.npy"
        tmp = self.path / f".{name}.tmp"
        with tmp.open("wb") as f:
            np.save(f, values.astype(np.float16))
        os.replace(tmp, self.path / name)
        with (self.path / INDEX).open("a") as f:
            f.writelines(json.dumps({**asdict(r), "shard": name, "row": i}) + "\n" for i, r in enumerate(reads))

    def layer(self, site: str, layer: int) -> tuple[list[dict], np.ndarray]:
        """(index entries, float32 (n, hidden)) of one site at one stored layer, shard by shard."""
        meta = self.meta()
        if meta is None:
            raise UserError(f"{self.path} holds no activations: run `bailbench activations` on the run first")
        if layer not in meta["layers"]:
            raise UserError(f"layer {layer} was not stored (stored: {meta['layers']})")
        j = meta["layers"].index(layer)
        entries = [e for e in self.index() if e["site"] == site]
        out = np.zeros((len(entries), meta["hidden"]), np.float32)
        by_shard: dict[str, list[int]] = {}
        for i, e in enumerate(entries):
            by_shard.setdefault(e["shard"], []).append(i)
        for shard, rows in by_shard.items():
            data = np.load(self.path / shard, mmap_mode="r")
            out[rows] = data[[entries[i]["row"] for i in rows], j]
        return entries, out


def _batches(run_dir: Path, tokens, done: set, size: int) -> Iterator[list[Sequence]]:
    batch: list[Sequence] = []
    for rows in context_rows(run_dir):
        seq = plan(rows, tokens, done)
        batch += [seq] if seq is not None else []
        if sum(len(s.reads) for s in batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def compute_activations(run_dir: Path, backend, layers: str = "all", *, shard_reads: int = 256,
                        out: Path | None = None, reporter=None) -> Stored:
    """Store the residual stream at every site of `run_dir` (resumable; see the module docstring)."""
    if not hasattr(backend, "hidden_states"):
        raise UserError(f"{backend.spec} cannot give activations: use the transformers backend (--model hf:NAME)")
    chosen = parse_layers(layers, len(backend.blocks))
    folder = Folder(out or run_dir / FOLDER)
    folder.open(_meta(backend, chosen))
    index = folder.index()
    done = {(e["site"], e["key"]) for e in index}
    shard = len({e["shard"] for e in index})
    new = 0
    for batch in _batches(run_dir, backend.tokens, done, shard_reads):
        batch.sort(key=lambda s: len(s.tokens))  # similar lengths pad less
        values = backend.hidden_states([(s.tokens, s.parents) for s in batch], [s.nodes for s in batch], chosen)
        reads = [r for s in batch for r in s.reads]
        folder.write(shard, reads, values)
        shard, new = shard + 1, new + len(reads)
        if reporter is not None:
            reporter.note(f"activations: {new} reads stored")
    return Stored(folder.path, new, len(done), chosen)
