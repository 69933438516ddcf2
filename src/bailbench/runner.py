"""Plan the work of a run, skip what the store already holds, run the rest in batches.

Work is grouped by (prompt, sample). For each batch of groups: the plain rollouts
first, then the bail prompts that follow them (so a local backend still holds the
rollout's KV cache), then the tool and string replies. Every phase is committed to the
store as one transaction, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from .analysis.summary import grouped, rate_stats, rollout_stats
from .backends.base import Backend, Generation, GenerationRequest
from .backends.registry import BackendOptions, load_backend
from .chat.types import Chat
from .datasets.records import Dataset, Prompt, stratified
from .datasets.registry import load_dataset
from .errors import UserError
from .methods import BAIL_METHODS, KIND, PROMPT_METHODS, ROLLOUT, STRING, TOOL, resolve_methods
from .methods.names import model_name_for
from .methods.prompt import bail_prompt_chat, p_bail, read_sampled, read_scored
from .methods.string import read_string, string_chat
from .methods.tool import read_tool, tool_chat
from .methods.wordings import ablations, bail_symbol, continue_symbol
from .store import COLUMNS, SampleRow, Store

LOGPROB, SAMPLE = "logprob", "sample"

# `bailbench run` with no sizing flags is a quick look; --full is the paper's protocol.
QUICK = dict(limit=14, samples=2, max_tokens=256)
FULL = dict(limit=None, samples=10, max_tokens=2000)


@dataclass(frozen=True)
class RunConfig:
    model: str = "smollm2"
    dataset: str = "bailbench"
    methods: tuple[str, ...] = BAIL_METHODS
    ablation: str = "Baseline"
    samples: int = QUICK["samples"]
    limit: int | None = QUICK["limit"]
    max_tokens: int = QUICK["max_tokens"]
    temperature: float = 1.0
    bail_prompt_mode: str | None = None  # None: logprob where the backend gives logprobs
    seed: int = 0
    out: Path | None = None  # None: runs/<model>-<dataset>-<settings hash>
    model_name: str | None = None  # what the model calls itself; None: derived from the model id
    data_dir: str | None = None
    options: BackendOptions = field(default_factory=BackendOptions)  # backend flags (n_ctx, device, base_url ...)


class Reporter(Protocol):
    def start(self, total: int, description: str) -> None: ...
    def advance(self, n: int) -> None: ...
    def note(self, message: str) -> None: ...


class _Silent:
    def start(self, total: int, description: str) -> None: ...
    def advance(self, n: int) -> None: ...

    def note(self, message: str) -> None:
        print(message, file=sys.stderr)


@dataclass(frozen=True)
class Unit:
    prompt: Prompt
    sample: int
    method: str
    ablation: str
    mode: str
    key: str
    seed: int


@dataclass
class RunResult:
    out: Path
    summary: dict
    dataset: Dataset = field(repr=False)


def unit_seed(seed: int, prompt_id: str, sample: int, method: str, ablation: str) -> int:
    h = hashlib.sha256(f"{seed}|{prompt_id}|{sample}|{method}|{ablation}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def make_unit(prompt: Prompt, sample: int, method: str, ablation: str, mode: str, seed: int) -> Unit:
    key = f"{prompt.id}|{sample}|{method}|{ablation}|{mode}"
    return Unit(prompt, sample, method, ablation, mode, key, unit_seed(seed, prompt.id, sample, method, ablation))


def _check_ablation(methods: list[str], ablation: str) -> None:
    for m in methods:
        if m != ROLLOUT and ablation not in ablations(KIND[m]):
            having = [x for x in BAIL_METHODS if ablation in ablations(KIND[x])]
            hint = f"it exists for {', '.join(having)}" if having else "see `bailbench prompts --help`"
            raise UserError(f"ablation {ablation!r} does not exist for method {m} ({hint}); "
                            f"choose --methods accordingly or another ablation")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(text).stem if "/" in text or "." in text else text).strip("-")[:40]


class Run:
    """One invocation: resolves inputs, plans units, executes, summarises."""

    def __init__(self, cfg: RunConfig, reporter: Reporter | None = None, backend: Backend | None = None):
        self.cfg = cfg
        self.reporter = reporter or _Silent()
        self.methods = resolve_methods(",".join(cfg.methods))
        _check_ablation(self.methods, cfg.ablation)
        if cfg.samples < 1:
            raise UserError("--samples must be at least 1")
        if cfg.max_tokens < 1:
            raise UserError("--max-tokens must be at least 1")
        if cfg.bail_prompt_mode not in (None, LOGPROB, SAMPLE):
            raise UserError(f"unknown --bail-prompt-mode {cfg.bail_prompt_mode!r}: use logprob or sample")
        self.dataset = load_dataset(cfg.dataset, cfg.data_dir)
        self.prompts = stratified(self.dataset.prompts, cfg.limit)
        self.backend: Backend = backend or load_backend(cfg.model, cfg.options)
        if cfg.max_tokens >= getattr(self.backend, "n_ctx", math.inf):
            raise UserError(f"--max-tokens {cfg.max_tokens} does not fit the model's context of "
                            f"{self.backend.n_ctx} tokens; lower it")
        self.model_name = cfg.model_name or self._derive_name()
        self.mode = self._mode()
        self.identity = {
            "model": cfg.model, "backend": self.backend.identity(), "model_name": self.model_name,
            "dataset": self.dataset.name, "dataset_sha256": self.dataset.sha256,
            "temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "seed": cfg.seed,
        }
        self.out = cfg.out or Path("runs") / self._default_dir()
        self.store = Store(self.out)
        self.store.check_identity(self.identity)

    def _derive_name(self) -> str:
        hints = [self.backend.model_id, self.cfg.model, *self.backend.name_hints]
        for hint in hints:
            name = model_name_for(hint)
            if name:
                return name
        raise UserError(f"cannot tell what {self.cfg.model} calls itself; pass --model-name NAME "
                        "(e.g. Qwen, Llama, Claude)")

    def _mode(self) -> str:
        wanted = self.cfg.bail_prompt_mode
        if wanted == LOGPROB and not self.backend.supports_logprobs:
            raise UserError(f"{self.cfg.model} gives no logprobs: use --bail-prompt-mode sample")
        if wanted is None and not self.backend.supports_logprobs:
            self.reporter.note(f"{self.cfg.model} gives no logprobs: the bail prompt is read by sampling")
            return SAMPLE
        return wanted or LOGPROB

    def _default_dir(self) -> str:
        h = hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:8]
        return f"{_slug(self.cfg.model)}-{_slug(self.dataset.name)}-{h}"

    # -- planning ---------------------------------------------------------------------

    def plan(self) -> list[list[Unit]]:
        """Units per (prompt, sample) group, in dependency order: rollout, prompts, tool/string."""
        need_rollout = ROLLOUT in self.methods or any(m in PROMPT_METHODS for m in self.methods)
        groups = []
        for prompt in self.prompts:
            for s in range(self.cfg.samples):
                units = []
                if need_rollout:
                    units.append(make_unit(prompt, s, ROLLOUT, "", "", self.cfg.seed))
                for m in self.methods:
                    if m in PROMPT_METHODS:
                        units.append(make_unit(prompt, s, m, self.cfg.ablation, self.mode, self.cfg.seed))
                for m in self.methods:
                    if m in (TOOL, STRING):
                        units.append(make_unit(prompt, s, m, self.cfg.ablation, "", self.cfg.seed))
                groups.append(units)
        return groups

    # -- execution --------------------------------------------------------------------

    def execute(self) -> RunResult:
        groups = self.plan()
        all_keys = [u.key for g in groups for u in g]
        done = self.store.done_keys(all_keys)
        pending = [[u for u in g if u.key not in done] for g in groups]
        pending = [g for g in pending if g]
        total = sum(len(g) for g in pending)
        self.reporter.start(total, f"{self.cfg.model} on {self.dataset.name}")
        step = max(1, self.backend.batch_size)
        for i in range(0, len(pending), step):
            self._run_batch(pending[i:i + step])
        rows = self.store.get(all_keys)
        missing = [k for k in all_keys if k not in rows]
        if missing:  # cannot happen unless the store was edited under us
            raise RuntimeError(f"{len(missing)} planned samples are missing from {self.store.path}")
        summary = self._summary(groups, rows, new=total, reused=len(all_keys) - total)
        self._write(summary, [rows[k] for k in all_keys])
        self.backend.close()
        return RunResult(self.out, summary, self.dataset)

    def _run_batch(self, batch: list[list[Unit]]) -> None:
        units = [u for g in batch for u in g]
        rollouts = [u for u in units if u.method == ROLLOUT]
        prompts = [u for u in units if u.method in PROMPT_METHODS]
        others = [u for u in units if u.method in (TOOL, STRING)]
        if rollouts:
            gens = self.backend.generate([self._request(u, Chat(messages=u.prompt.messages)) for u in rollouts])
            self._save([self._gen_row(u, g, None) for u, g in zip(rollouts, gens)])
        if prompts:
            self._save(self._bail_prompts(prompts))
        if others:
            chats = [self._method_chat(u) for u in others]
            gens = self.backend.generate([self._request(u, c) for u, c in zip(others, chats)])
            self._save([self._gen_row(u, g, self._read(u, g)) for u, g in zip(others, gens)])

    def _save(self, rows: list[SampleRow]) -> None:
        self.store.add(rows)
        self.reporter.advance(len(rows))

    def _method_chat(self, u: Unit) -> Chat:
        if u.method == TOOL:
            return tool_chat(u.prompt.messages, u.ablation, self.model_name)
        return string_chat(u.prompt.messages, u.ablation, self.model_name)

    def _request(self, u: Unit, chat) -> GenerationRequest:
        return GenerationRequest(chat=chat, seed=u.seed, temperature=self.cfg.temperature,
                                 max_tokens=self.cfg.max_tokens)

    def _read(self, u: Unit, g: Generation) -> str | None:
        if g.skipped:
            return None
        if u.method == TOOL:
            return read_tool(g.text, g.tool_calls, u.ablation, self.backend.tool_format)
        if u.method == STRING:
            return read_string(g.text, u.ablation)
        return read_sampled(g.text)

    def _gen_row(self, u: Unit, g: Generation, verdict: str | None) -> SampleRow:
        return SampleRow(
            key=u.key, prompt_id=u.prompt.id, category=u.prompt.category, subcategory=u.prompt.subcategory,
            method=u.method, ablation=u.ablation, mode=u.mode, sample=u.sample, seed=u.seed,
            rendered=g.rendered, reply=g.text, verdict=verdict, p_bail=None, mass=None,
            prompt_tokens=g.prompt_tokens, completion_tokens=g.completion_tokens,
            finish_reason=g.finish_reason, seconds=round(g.seconds, 4), skipped=g.skipped)

    def _bail_prompts(self, units: list[Unit]) -> list[SampleRow]:
        rollout_keys = {u.key: make_unit(u.prompt, u.sample, ROLLOUT, "", "", self.cfg.seed).key for u in units}
        rollouts = self.store.get(set(rollout_keys.values()))
        rows: list[SampleRow] = []
        runnable = []
        for u in units:
            r = rollouts[rollout_keys[u.key]]
            if r.skipped:
                rows.append(self._gen_row(u, Generation(rendered="", skipped=r.skipped), None))
            else:
                runnable.append((u, bail_prompt_chat(u.prompt.messages, r.reply, u.method, u.ablation,
                                                     forced_tag=self.mode == LOGPROB)))
        if not runnable:
            return rows
        if self.mode == LOGPROB:
            scores = self.backend.score([c for _, c in runnable], [bail_symbol(), continue_symbol()])
            for (u, _), s in zip(runnable, scores):
                p, mass = p_bail(*s.logprobs) if not s.skipped else (None, None)
                rows.append(SampleRow(
                    key=u.key, prompt_id=u.prompt.id, category=u.prompt.category,
                    subcategory=u.prompt.subcategory, method=u.method, ablation=u.ablation, mode=u.mode,
                    sample=u.sample, seed=u.seed, rendered=s.rendered, reply=s.text,
                    verdict=None if s.skipped else read_scored(p), p_bail=p, mass=mass,
                    prompt_tokens=s.prompt_tokens, completion_tokens=0, finish_reason="",
                    seconds=round(s.seconds, 4), skipped=s.skipped))
        else:
            gens = self.backend.generate([self._request(u, c) for u, c in runnable])
            rows += [self._gen_row(u, g, self._read(u, g)) for (u, _), g in zip(runnable, gens)]
        return rows

    # -- output -----------------------------------------------------------------------

    def _summary(self, groups: list[list[Unit]], rows: dict[str, SampleRow], *, new: int, reused: int) -> dict:
        by_method: dict[str, list[SampleRow]] = {}
        for g in groups:
            for u in g:
                by_method.setdefault(u.method, []).append(rows[u.key])
        methods = {}
        for m in self.methods:
            if m == ROLLOUT:
                continue
            stats = rate_stats(by_method[m])
            stats["categories"] = grouped(by_method[m], lambda r: r.category)
            stats["subcategories"] = grouped(by_method[m], lambda r: f"{r.category} / {r.subcategory}")
            methods[m] = stats
        return {
            "model": self.cfg.model,
            "model_id": self.backend.model_id,
            "model_name": self.model_name,
            "dataset": self.dataset.name,
            "dataset_sha256": self.dataset.sha256,
            "samples": self.cfg.samples,
            "n_prompts": len(self.prompts),
            "n_categories": len({p.category for p in self.prompts}),
            "ablation": self.cfg.ablation,
            "bail_prompt_mode": self.mode,
            "temperature": self.cfg.temperature,
            "max_tokens": self.cfg.max_tokens,
            "seed": self.cfg.seed,
            "methods": methods,
            "rollout": rollout_stats(by_method[ROLLOUT]) if ROLLOUT in by_method else None,
            "skipped_rows": dict(self.dataset.skipped),
            "new_samples": new,
            "reused_samples": reused,
        }

    def _write(self, summary: dict, rows: list[SampleRow]) -> None:
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
        with open(self.out / "samples.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            for r in rows:
                w.writerow(asdict(r))


def run(cfg: RunConfig, reporter: Reporter | None = None, backend: Backend | None = None) -> RunResult:
    """Run (or resume) a BailBench-style measurement; the library entry point.

    `backend` overrides `cfg.model` with a backend object built by the caller (any
    `Backend` implementation); `cfg.model` still names the run."""
    return Run(cfg, reporter, backend).execute()
