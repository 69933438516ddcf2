"""Rescoring fixed contexts under many steerings, from the residual stream cached at the
steered block.

Steering block L leaves blocks 0..L's inputs as they were, so a sweep runs the unsteered
model once, keeping block L's output and what the model hands each later block (its attention
mask, rotary embeddings: whatever that architecture passes), and per steering runs only blocks
L+1.. on the kept output plus the shift, then the final norm and the LM head at the few
positions read. The continuations (🔄 and 🟢, several tokens each) ride in the same pass as a
token tree: each continuation token sees the context and its own ancestors, at the position it
would have, so one pass reads every continuation. Contexts are batched by length.

Plain PyTorch hooks on the transformers backend's own model, as the rest of the mechanism. The
shortcut must equal the slow way, the backend's own scoring with its steering hook: it is
checked on the first batch (and the tail against the full pass at every layer used), and a
model where they differ (a logit soft-cap, sliding-window attention) is scored the slow way.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..backends.base import continuation_tokens
from ..backends.token_trie import ROOT, chain, token_trie
from .directions import Steering

BATCH = 8
AGREE = 1e-3  # largest difference of a log-probability between the shortcut and the slow way


@dataclass
class _Batch:
    rows: np.ndarray  # the contexts' indices
    ids: Any  # (b, S) token ids, left-padded
    mask: Any  # (b, 1, S, S) additive float mask: causal over the context, a tree over the continuations
    pos: Any  # (b, S) position ids
    at_row: Any  # per read: its row in the batch
    at_col: Any  # per read: the position whose next-token distribution is read
    token: Any  # per read: the token whose log-probability is added
    into: np.ndarray  # per read: its (context, continuation) cell, flattened
    last: Any  # (b,) each row's last context position (the next-token distribution of the context)
    kept: dict[int, Any] = field(default_factory=dict)  # layer -> block output (b, S, d)
    calls: dict[int, tuple] = field(default_factory=dict)  # block -> (args after the hidden states, kwargs)


def _layout(prefix: list[int], conts: list[list[int]]) -> tuple[list[int], list[int], list[tuple]]:
    """(tokens: the context, then each node of the continuations' trie but their last tokens;
    each token's parent (token_trie's convention: a node of the trie hangs from the context's
    last token); reads as (index read after, token, continuation))."""
    trie, n = token_trie([c[:-1] for c in conts]), len(prefix)
    parents = chain(n) + [n - 1 if p == ROOT else n + p for p in trie.parents]
    reads = [(n - 1 if j == 0 else n + trie.paths[k][j - 1], tok, k) for k, c in enumerate(conts)
             for j, tok in enumerate(c)]
    return list(prefix) + trie.tokens, parents, reads


class TailScorer:
    """Log-probabilities of `continuations` after each text, and each text's next-token
    distribution, under a shift added to the output of one of `layers`."""

    def __init__(self, backend, texts: Sequence[str], continuations: Sequence[str], layers: Sequence[int],
                 batch: int = BATCH):
        self.backend, self.torch = backend, backend.torch
        self.layers = sorted(set(layers))
        self.n, self.n_cont = len(texts), len(continuations)
        self.texts = list(texts)
        self.continuations = list(continuations)
        model = backend.model
        self.blocks = backend.blocks
        self.norm = model.base_model.norm
        self.head = model.get_output_embeddings()
        prepared = []
        for i, text in enumerate(texts):
            prefix = backend.tokens(text)
            conts = [continuation_tokens(backend.tokens, text, prefix, c) for c in continuations]
            prepared.append((i, prefix, *_layout(prefix, conts)))
        prepared.sort(key=lambda p: len(p[2]))
        # the LM head over every position is the pass's largest matrix product; the reads take it anew
        self._one_logit = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters \
            else {}
        self.batches = [self._batch(prepared[j:j + batch]) for j in range(0, len(prepared), batch)]
        self.base, self.base_next = self._unsteered()
        self.exact = self._agrees()

    def _batch(self, chunk: list) -> _Batch:
        torch = self.torch
        ids, mask, pos, offsets = self.backend.tree_inputs([(p[2], p[3]) for p in chunk])
        at_row, at_col, token, into, last = [], [], [], [], []
        for r, ((i, prefix, _, _, reads), o) in enumerate(zip(chunk, offsets, strict=True)):
            last.append(o + len(prefix) - 1)
            for at, tok, k in reads:
                at_row.append(r)
                at_col.append(o + at)
                token.append(tok)
                into.append(i * self.n_cont + k)
        device = self.backend.device

        def index(xs: list[int]):
            return torch.tensor(xs, dtype=torch.long, device=device)

        return _Batch(np.array([p[0] for p in chunk]), ids, mask, pos, index(at_row), index(at_col), index(token),
                      np.array(into, np.int64), index(last))

    def _read(self, b: _Batch, hidden, totals: np.ndarray, nexts: np.ndarray) -> None:
        """Add the batch's reads from final hidden states (b, S, d) (before the final norm)."""
        torch = self.torch
        rows = torch.arange(len(b.rows), device=b.last.device)
        at = torch.cat([torch.stack([b.at_row, b.at_col], 1), torch.stack([rows, b.last], 1)])
        with torch.inference_mode():
            lp = self.head(self.norm(hidden[at[:, 0], at[:, 1]])).float().log_softmax(-1)
        reads = lp[: len(b.token)].gather(1, b.token[:, None])[:, 0].double().cpu().numpy()
        np.add.at(totals.reshape(-1), b.into, reads)
        nexts[b.rows] = lp[len(b.token):].cpu().numpy()

    def _unsteered(self) -> tuple[np.ndarray, np.ndarray]:
        """The full pass, unsteered: the reads, and each batch's kept block outputs and calls."""
        torch = self.torch
        totals = np.zeros((self.n, self.n_cont))
        nexts = np.zeros((self.n, self.head.out_features), np.float32)
        first = self.layers[0]
        for b in self.batches:
            hooks = []
            for layer in self.layers:
                hooks.append(self.blocks[layer].register_forward_hook(
                    lambda m, a, out, layer=layer, b=b: b.kept.__setitem__(layer, out[0] if isinstance(out, tuple)
                                                                            else out)))
            for i in range(first + 1, len(self.blocks)):
                hooks.append(self.blocks[i].register_forward_pre_hook(
                    lambda m, args, kwargs, i=i, b=b: b.calls.__setitem__(i, (args[1:], dict(kwargs))),
                    with_kwargs=True))
            hooks.append(self.norm.register_forward_hook(
                lambda m, a, out, b=b: b.kept.__setitem__(-1, a[0])))
            try:
                with torch.inference_mode():
                    self.backend.model(input_ids=b.ids, attention_mask=b.mask, position_ids=b.pos, use_cache=False,
                                       **self._one_logit)
            finally:
                for h in hooks:
                    h.remove()
            self._read(b, b.kept.pop(-1), totals, nexts)
        return totals, nexts

    def _tail(self, b: _Batch, layer: int, shift):
        h = b.kept[layer] if shift is None else b.kept[layer] + shift
        for i in range(layer + 1, len(self.blocks)):
            args, kwargs = b.calls[i]
            out = self.blocks[i](h, *args, **kwargs)
            h = out[0] if isinstance(out, tuple) else out
        return h

    def _agrees(self) -> bool:
        """The tail from each kept layer equals the full pass, and the full pass the backend's
        own scoring, on the first batch."""
        b = self.batches[0]
        want = (self.base[b.rows], self.base_next[b.rows])

        def same(got: tuple[np.ndarray, np.ndarray]) -> bool:
            return all(np.allclose(x, y, atol=AGREE, rtol=0) for x, y in zip(got, want, strict=True))

        for layer in self.layers:
            totals, nexts = np.zeros_like(self.base), np.zeros_like(self.base_next)
            with self.torch.inference_mode():
                self._read(b, self._tail(b, layer, None), totals, nexts)
            if not same((totals[b.rows], nexts[b.rows])):
                return False
        texts = [self.texts[i] for i in b.rows]
        slow = [s.logprobs for s in self.backend.score_rendered(texts, self.continuations)] if self.n_cont else []
        return same((np.array(slow).reshape(len(texts), self.n_cont), self.backend.next_token_logprobs(texts)))

    def read(self, steering: Steering | None) -> tuple[np.ndarray, np.ndarray]:
        """(continuations' log-probabilities (texts, continuations), next-token log-probabilities
        (texts, vocab)) under `steering` (None or alpha 0: the unsteered pass, as it was)."""
        if steering is None or steering.alpha == 0:
            return self.base, self.base_next
        if not self.exact or steering.layer not in self.layers:
            return self._slow(steering)
        torch = self.torch
        shift = torch.tensor(steering.alpha * steering.vector, dtype=self.backend.model.dtype,
                             device=self.backend.device)
        totals = np.zeros((self.n, self.n_cont))
        nexts = np.zeros_like(self.base_next)
        with torch.inference_mode():
            for b in self.batches:
                self._read(b, self._tail(b, steering.layer, shift), totals, nexts)
        return totals, nexts

    def _slow(self, steering: Steering) -> tuple[np.ndarray, np.ndarray]:
        """The backend's own steering hook over every text."""
        self.backend.set_steering(steering)
        try:
            totals = np.array([s.logprobs for s in self.backend.score_rendered(self.texts, self.continuations)])
            return totals, self.backend.next_token_logprobs(self.texts)
        finally:
            self.backend.set_steering(None)
