"""One model behind every question the taxonomy asks (summaries, names, parents): loaded
only when an answer is not cached, asked greedily, every answer stored by the exact request."""

from __future__ import annotations

from typing import Sequence

from ..backends.base import Backend, GenerationRequest
from ..backends.registry import BackendOptions, load_backend
from ..chat.types import Chat, Message
from ..methods.thinking import strip_thinking
from .store import TaxonomyStore, sha

BATCH = 8


class Asker:
    def __init__(self, spec: str, store: TaxonomyStore, *, options: BackendOptions | None = None,
                 backend: Backend | None = None, seed: int = 0):
        self.spec = spec
        self.store = store
        self.options = options or BackendOptions(n_ctx=4096)
        self._backend = backend
        self.seed = seed
        self.asked = 0  # requests that reached the model in this invocation
        self.reused = 0

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = load_backend(self.spec, self.options)
        return self._backend

    def ask(self, questions: Sequence[str], *, prefix: str = "", max_tokens: int = 96, reporter=None,
            retry=None) -> list[str]:
        """Answers in order (the forced `prefix` included). `retry(text)` true: ask once more,
        sampled with another seed, and keep that answer if it passes."""
        keys = [sha(f"{prefix}\x00{max_tokens}\x00{q}") for q in questions]
        have = self.store.answers(set(keys), self.spec)
        self.reused += sum(1 for k in keys if k in have)
        todo = [(k, q) for k, q in dict(zip(keys, questions)).items() if k not in have]
        for i in range(0, len(todo), BATCH):
            chunk = todo[i:i + BATCH]
            texts = self._generate([q for _, q in chunk], prefix, max_tokens, 0.0)
            if retry is not None:
                again = [j for j, t in enumerate(texts) if retry(t)]
                if again:
                    second = self._generate([chunk[j][1] for j in again], prefix, max_tokens, 0.7)
                    for j, t in zip(again, second):
                        if not retry(t):
                            texts[j] = t
            self.store.add_answers(self.spec, {k: t for (k, _), t in zip(chunk, texts)})
            have.update({k: t for (k, _), t in zip(chunk, texts)})
            self.asked += len(chunk)
            if reporter is not None:
                reporter.advance(len(chunk))
        return [have[k] for k in keys]

    def _generate(self, questions: list[str], prefix: str, max_tokens: int, temperature: float) -> list[str]:
        reqs = [GenerationRequest(Chat((Message("user", q),), assistant_prefix=prefix),
                                  seed=self.seed + n, temperature=temperature, max_tokens=max_tokens)
                for n, q in enumerate(questions)]
        return [strip_thinking(g.text) if not g.skipped else "" for g in self.backend.generate(reqs)]

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
