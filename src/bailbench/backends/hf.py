"""Hugging Face transformers: any causal LM checkpoint (repo id or folder), or a GGUF file
(de-quantized by transformers once, then loaded from its cached safetensors conversion: see
backends.gguf_convert), on CPU or GPU.

Generation is batched (left padding) with a sampling loop of our own so that every
request keeps its own seeded random stream: in exact arithmetic a sample does not change
with what shares its batch (in bf16 on a GPU, batch shapes change rounding, and so
sometimes a sampled token).
Scoring continues from the KV cache of the last `generate` call's replies: a bail-prompt
check after a rollout computes only the tokens after the longest prefix it shares with a
reply (its own wording and the symbols), not the prompt and reply again. The reply's KV
was written one token per step, yet the log-probabilities equal a cold evaluation's within
float rounding (1e-5 nat in float32 on CPU, tested); then every continuation runs on a copy
of the prefix's cache.

For the mechanism (bailbench.mechanism): `hidden_states` reads the residual stream (each
decoder block's output) at given positions, and `--steer FILE:LAYER:ALPHA` adds alpha times a
saved direction to one block's output at every position, through a forward hook, so that
generation, scoring and the KV reuse above all see the steered model.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..chat.template import ChatTemplate
from ..chat.toolcalls import check_format
from ..chat.types import Chat
from ..errors import UserError
from .base import (
    Generation,
    GenerationRequest,
    LocalBackend,
    PreparedRequest,
    PreparedScore,
    Score,
    continuation_tokens,
)

if TYPE_CHECKING:
    from ..mechanism.directions import Steering


def _torch():
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise UserError("the hf backend needs torch and transformers: pip install 'bailbench[hf]'") from exc
    return torch


class HFBackend(LocalBackend):

    def __init__(self, name: str, *, spec: str, n_ctx: int = 8192, device: str | None = None,
                 dtype: str | None = None, batch_size: int | None = None, tool_format: str | None = None,
                 steer: str | None = None):
        torch = _torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.spec = spec
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or ("bfloat16" if self.device.startswith("cuda") else "float32")
        if not hasattr(torch, dtype):
            raise UserError(f"unknown --dtype {dtype!r}: use float32, bfloat16 or float16")
        path = Path(name).expanduser()
        source = name
        if path.suffix == ".gguf":
            from .gguf_convert import convert_gguf

            source = str(convert_gguf(path))  # de-quantizing on every load takes 40 s for 135M parameters
        self.model_id = path.name if path.suffix == ".gguf" else name
        try:
            self.tok = AutoTokenizer.from_pretrained(source)
            self.model = AutoModelForCausalLM.from_pretrained(source, dtype=getattr(torch, dtype))
        except OSError as exc:
            raise UserError(f"could not load {name} with transformers ({str(exc).splitlines()[0]}); "
                            "give a local folder, a .gguf file, or a hub id with network access") from exc
        self.model.to(self.device).eval()  # type: ignore[arg-type]  # transformers' stubs wrap .to() and lose its device argument
        # transformers 5 renamed the KV-cache argument and output from past_key_values to cache
        self._cache_kw = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        template = ChatTemplate.from_tokenizer(self.tok.chat_template, bos_token=self.tok.bos_token or "",
                                               eos_token=self.tok.eos_token or "")
        if template is None:
            raise UserError(f"{name} has no chat template; bailbench needs a chat (instruct) model")
        self.template = template
        self.tool_format = check_format(tool_format) if tool_format else template.tool_format
        self.n_ctx = min(n_ctx, getattr(self.model.config, "max_position_embeddings", n_ctx) or n_ctx)
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        self.stop_ids = {t for t in eos + [self.tok.eos_token_id] if t is not None}
        self.pad_id = self.tok.pad_token_id if self.tok.pad_token_id is not None else min(self.stop_ids)
        self.batch_size = batch_size or (32 if self.device.startswith("cuda") else 8)
        self._kept: list[_Kept] = []  # the last generate call's sequences and their KV (per layer)
        self.name_hints = [getattr(self.model.config, "_name_or_path", "") or "", self.model.config.model_type]
        self.steering: Steering | None = None
        self._steer_hook = None
        if steer:
            from ..mechanism.directions import parse_steer

            self.set_steering(parse_steer(steer))

    # -- the residual stream ------------------------------------------------------------

    @property
    def blocks(self):
        """The decoder blocks, in order (block i's output is the residual stream after layer i)."""
        layers = getattr(self.model.base_model, "layers", None)
        if layers is None:
            raise UserError(f"{self.model_id}: cannot find its decoder layers (model.layers) to read or steer")
        return layers

    def set_steering(self, steering: Steering | None) -> None:
        """Add `steering.alpha * steering.vector` to block `steering.layer`'s output from now
        on (None: stop). Kept KV from earlier replies is dropped: it was computed otherwise."""
        if self._steer_hook is not None:
            self._steer_hook.remove()
            self._steer_hook = None
        self._kept = []
        self.steering = steering
        if steering is None:
            return
        if not 0 <= steering.layer < len(self.blocks):
            raise UserError(f"--steer layer {steering.layer} is out of range: {self.model_id} has layers 0 to "
                            f"{len(self.blocks) - 1}")
        if steering.vector.shape != (self.model.config.hidden_size,):
            raise UserError(f"--steer: the direction has {steering.vector.shape[0]} dimensions, {self.model_id} "
                            f"{self.model.config.hidden_size}; use a direction computed on this model")
        shift = self.torch.tensor(steering.alpha * steering.vector, dtype=self.model.dtype, device=self.device)

        def add(module, args, output):
            if isinstance(output, tuple):
                return (output[0] + shift,) + output[1:]
            return output + shift

        self._steer_hook = self.blocks[steering.layer].register_forward_hook(add)

    def hidden_states(self, trees: list[tuple[list[int], list[int]]], nodes: list[list[int]], layers: Sequence[int]):
        """float32 array (reads, len(layers), hidden): block outputs at `nodes[i]` of tree i, in
        order. A tree is (tokens, parents) as in backends.token_trie: sequences sharing a prefix
        run as one, each seeing only its own tokens. One cold forward pass per batch (exact)."""
        import numpy as np

        torch = self.torch
        last = max(layers)
        out = []
        for j in range(0, len(trees), self.batch_size):
            chunk, where = trees[j:j + self.batch_size], nodes[j:j + self.batch_size]
            ids, mask, pos, offsets = self.tree_inputs(chunk)
            rows = torch.tensor([r for r, ns in enumerate(where) for _ in ns], device=self.device)
            cols = torch.tensor([o + n for o, ns in zip(offsets, where, strict=True) for n in ns], device=self.device)
            caught: dict[int, object] = {}  # each block's output at the reads only: memory stays small

            def keep(module, args, output, layer):
                caught[layer] = (output[0] if isinstance(output, tuple) else output)[rows, cols].float()
                if layer == last:
                    raise _Enough  # the blocks above and the logits are not needed

            hooks = [self.blocks[layer].register_forward_hook(
                lambda m, a, o, layer=layer: keep(m, a, o, layer)) for layer in layers]
            try:
                with torch.inference_mode():
                    self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
            except _Enough:
                pass
            finally:
                for h in hooks:
                    h.remove()
            out.append(torch.stack([caught[layer] for layer in layers], dim=1).cpu().numpy())  # type: ignore[misc]
        return np.concatenate(out) if out else np.zeros((0, len(layers), self.model.config.hidden_size), "float32")

    def tree_inputs(self, trees: Sequence[tuple[Sequence[int], Sequence[int]]]):
        """(ids, additive (b, 1, S, S) mask, position ids, offsets) of left-padded trees, on the device."""
        from .token_trie import packed_batch

        torch = self.torch
        ids, pos, allowed, offsets = packed_batch(trees, self.pad_id)
        dtype = self.model.dtype
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(torch.from_numpy(~allowed), torch.finfo(dtype).min)
        return (torch.from_numpy(ids).to(self.device), mask[:, None].to(self.device),
                torch.from_numpy(pos).to(self.device), offsets)

    def score_rendered(self, texts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        """`score` for prefixes already rendered (a run's stored `rendered` texts)."""
        work = []
        for i, text in enumerate(texts):
            prefix = self.tokens(text)
            conts = [continuation_tokens(self.tokens, text, prefix, c) for c in continuations]
            work.append(PreparedScore(i, text, prefix, continuations=conts))
        out: list[Score] = []
        for j in range(0, len(work), self.batch_size):
            out += self._score_batch(work[j:j + self.batch_size])
        return out

    def next_token_logprobs(self, texts: Sequence[str]):
        """float32 array (texts, vocab): log-probabilities of the token after each text."""
        torch = self.torch
        rows = []
        for j in range(0, len(texts), self.batch_size):
            ids, mask, pos = self._left_pad([self.tokens(t) for t in texts[j:j + self.batch_size]])
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits
            rows.append(self._logprobs(logits[:, -1]).cpu().numpy())
        import numpy as np

        return np.concatenate(rows)

    def identity(self) -> dict:
        ident = super().identity()
        if self.steering is not None:
            ident["steer"] = self.steering.identity()
        return ident

    def tokens(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False).input_ids

    # -- generation -------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out, work = self.prepare_generation(requests)
        self._kept = []
        work.sort(key=lambda p: len(p.tokens))  # similar lengths pad less
        for j in range(0, len(work), self.batch_size):
            chunk = work[j:j + self.batch_size]
            for p, gen in zip(chunk, self._generate_batch(chunk)):
                out[p.index] = gen
        return out  # type: ignore[return-value]

    def _left_pad(self, seqs: list[list[int]]):
        torch = self.torch
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, width - len(s):] = torch.tensor(s)
            mask[r, width - len(s):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids.to(self.device), mask.to(self.device), pos.to(self.device)

    def _forward(self, cache=None, **inputs):
        """One model call; returns (logits, KV cache)."""
        if cache is not None:
            inputs[self._cache_kw] = cache
        out = self.model(use_cache=True, **inputs)
        cache = out.get("cache")
        return out.logits, cache if cache is not None else out.get("past_key_values")

    @staticmethod
    def _logprobs(logits):
        return logits.float().log_softmax(-1)

    def _generate_batch(self, chunk: list[PreparedRequest]) -> list[Generation]:
        """Sampling by inverse CDF with one uniform per row and step, drawn from the row's
        own seeded stream: rows sample independently of what shares their batch, and a
        step needs one device sync for the whole batch."""
        import numpy as np

        torch = self.torch
        start = time.perf_counter()
        reqs = [p.request for p in chunk]
        ids, mask, pos = self._left_pad([p.tokens for p in chunk])
        limits = [min(r.max_tokens, self.n_ctx - len(p.tokens)) for r, p in zip(reqs, chunk)]
        streams = [np.random.Generator(np.random.Philox(r.seed)) for r in reqs]
        temps = torch.tensor([max(r.temperature, 1e-6) for r in reqs], device=self.device)[:, None]
        greedy = torch.tensor([r.temperature <= 0 for r in reqs], device=self.device)
        new: list[list[int]] = [[] for _ in reqs]
        done = [False] * len(reqs)
        finish = ["length"] * len(reqs)
        fed = 0  # tokens fed after the prompts (one per step)
        with torch.inference_mode():
            logits, cache = self._forward(input_ids=ids, attention_mask=mask, position_ids=pos)
            logits = logits[:, -1]
            next_pos = pos[:, -1:] + 1
            for _ in range(max(limits)):
                cdf = (logits.float() / temps).softmax(-1).cumsum(-1)
                u = torch.tensor([s.random() for s in streams], device=self.device, dtype=cdf.dtype)[:, None]
                sampled = torch.searchsorted(cdf, u * cdf[:, -1:]).clamp(max=cdf.shape[-1] - 1).squeeze(-1)
                step = torch.where(greedy, logits.argmax(-1), sampled).tolist()
                for r, t in enumerate(step):
                    if done[r]:
                        step[r] = self.pad_id
                    elif t in self.stop_ids:
                        done[r], finish[r] = True, "stop"
                    else:
                        new[r].append(t)
                        done[r] = len(new[r]) >= limits[r]
                if all(done):
                    break
                mask = torch.cat([mask, torch.ones((len(reqs), 1), dtype=mask.dtype, device=self.device)], dim=1)
                logits, cache = self._forward(cache, input_ids=torch.tensor(step, device=self.device)[:, None],
                                              attention_mask=mask, position_ids=next_pos)
                logits = logits[:, -1]
                next_pos = next_pos + 1
                fed += 1
        self._keep(cache, chunk, new, ids.shape[1], fed)
        seconds = (time.perf_counter() - start) / len(reqs)
        # transformers types decode() as str | list[str]; one sequence of ids decodes to a str
        return [Generation(p.rendered, text=p.request.chat.assistant_prefix + self.tok.decode(toks_new),  # type: ignore[operator]
                           prompt_tokens=len(p.tokens), completion_tokens=len(toks_new), finish_reason=fin,
                           seconds=seconds)
                for p, toks_new, fin in zip(chunk, new, finish)]

    def _keep(self, cache, chunk: list[PreparedRequest], new: list[list[int]], width: int, fed: int) -> None:
        """Keep each row's prompt and fed reply tokens, and where their KV lies in the
        left-padded batch cache (kept whole until the next `generate`: no copy)."""
        layers = getattr(cache, "layers", None)
        if not layers or not all(hasattr(layer, "keys") for layer in layers) or self._sliding:
            return  # a cache layout (sliding windows, recurrent state) we do not cut: score cold
        kv = [(layer.keys, layer.values) for layer in layers]
        for r, (p, toks) in enumerate(zip(chunk, new)):
            self._kept.append(_Kept(p.tokens + toks[:min(len(toks), fed)], kv, r, width - len(p.tokens)))

    @property
    def _sliding(self) -> bool:
        cfg = self.model.config
        return bool(getattr(cfg, "sliding_window", None)) or "sliding_attention" in (getattr(cfg, "layer_types", None) or ())

    def _prefix(self, tokens: list[int]) -> tuple[_Kept | None, int]:
        """The kept sequence sharing the longest prefix with `tokens`, and that length (at
        most all but the last token, whose logits must be computed)."""
        best, length = None, 0
        for k in self._kept:
            n = 0
            for a, b in zip(k.tokens, tokens[:-1]):
                if a != b:
                    break
                n += 1
            if n > length:
                best, length = k, n
        return best, length

    def _past(self, prefixes: list[tuple[_Kept | None, int]]):
        """(cache, mask) of the rows' kept prefixes, left-padded to the longest; (None, an
        empty mask) when no row has one."""
        torch = self.torch
        width = max(n for _, n in prefixes)
        mask = torch.zeros((len(prefixes), width), dtype=torch.long)
        if not width:
            return None, mask.to(self.device)
        from transformers import DynamicCache

        for r, (_, n) in enumerate(prefixes):
            mask[r, width - n:] = 1

        def padded(layer: int, part: int):
            rows = []
            for k, n in prefixes:
                if k is not None and n:  # a prefix length n > 0 comes with its kept sequence
                    t = k.kv[layer][part][k.row:k.row + 1, :, k.start:k.start + n]
                    rows.append(torch.cat([t.new_zeros((*t.shape[:2], width - n, t.shape[3])), t], dim=2))
                else:
                    t = any_kept.kv[layer][part]
                    rows.append(t.new_zeros((1, t.shape[1], width, t.shape[3])))
            return torch.cat(rows)

        any_kept = next(k for k, n in prefixes if k is not None and n)
        data = [(padded(layer, 0), padded(layer, 1)) for layer in range(len(any_kept.kv))]
        return DynamicCache(ddp_cache_data=data), mask.to(self.device)

    # -- scoring ----------------------------------------------------------------------

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]:
        out, work = self.prepare_scoring(chats, continuations)
        for j in range(0, len(work), self.batch_size):
            chunk = work[j:j + self.batch_size]
            for p, s in zip(chunk, self._score_batch(chunk)):
                out[p.index] = s
        return out  # type: ignore[return-value]

    def _score_batch(self, chunk: list[PreparedScore]) -> list[Score]:
        """Each prefix from where its kept reply leaves off (batched, right-padded after the
        left-padded kept caches); then every continuation of every prefix in one pass on
        the prefix cache repeated per continuation."""
        torch = self.torch
        start = time.perf_counter()
        n_cont = len(chunk[0].continuations)
        prefixes = [self._prefix(p.tokens) for p in chunk]
        cache, past_mask = self._past(prefixes)
        rest = [p.tokens[n:] for p, (_, n) in zip(chunk, prefixes)]
        width = max(len(t) for t in rest)
        ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, t in enumerate(rest):
            ids[r, : len(t)] = torch.tensor(t)
            mask[r, : len(t)] = 1
        held = torch.tensor([n for _, n in prefixes])[:, None]
        pos = (held + torch.arange(width)).to(self.device)
        last = torch.tensor([len(t) - 1 for t in rest], device=self.device)
        mask = torch.cat([past_mask, mask.to(self.device)], dim=1)
        totals = torch.zeros((len(chunk), n_cont), dtype=torch.float64)
        with torch.inference_mode():
            logits, cache = self._forward(cache, input_ids=ids.to(self.device), attention_mask=mask, position_ids=pos)
            first = self._logprobs(logits[torch.arange(len(chunk), device=self.device), last])
            for r, p in enumerate(chunk):
                for k, cont in enumerate(p.continuations):
                    totals[r, k] = float(first[r, cont[0]])
            longest = max(len(cont) for p in chunk for cont in p.continuations)
            if longest > 1:
                cache.batch_repeat_interleave(n_cont)
                width = longest - 1
                cont_ids = torch.full((len(chunk) * n_cont, width), self.pad_id, dtype=torch.long)
                cont_mask = torch.zeros_like(cont_ids)
                for r, p in enumerate(chunk):
                    for k, cont in enumerate(p.continuations):
                        row, body = r * n_cont + k, cont[:-1]
                        if body:
                            cont_ids[row, : len(body)] = torch.tensor(body)
                            cont_mask[row, : len(body)] = 1
                full_mask = torch.cat([mask.repeat_interleave(n_cont, 0), cont_mask.to(self.device)], dim=1)
                cont_pos = (last[:, None] + pos[:, :1] + 1).repeat_interleave(n_cont, 0) + torch.arange(
                    width, device=self.device)
                logits, _ = self._forward(cache, input_ids=cont_ids.to(self.device), attention_mask=full_mask,
                                          position_ids=cont_pos)
                lp = self._logprobs(logits)
                for r, p in enumerate(chunk):
                    for k, cont in enumerate(p.continuations):
                        row = r * n_cont + k
                        for j in range(1, len(cont)):
                            totals[r, k] += float(lp[row, j - 1, cont[j]])
        seconds = (time.perf_counter() - start) / len(chunk)
        return [Score(p.rendered, totals[r].tolist(), len(p.tokens), seconds=seconds) for r, p in enumerate(chunk)]


class _Enough(Exception):
    """Raised by a hook to end a forward pass once every wanted block output is caught."""


@dataclass
class _Kept:
    """A sequence the last `generate` call decoded (prompt and fed reply tokens): its KV is
    row `row` of the batch cache's (keys, values) per layer, from position `start`."""

    tokens: list[int]
    kv: list[tuple]
    row: int
    start: int
