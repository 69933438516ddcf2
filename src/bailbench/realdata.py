"""`bailbench realdata`: how often would a model bail on real traffic?

For every user turn of every conversation the model answers under each method, with the
dataset's own earlier assistant turns as the context; the bail prompt follows the
model's own answer (and, with `cross_model`, also the dataset's own next assistant
turn). Conversations are streamed and processed a few at a time, results go into the
same run store, and every rate is computed in SQL at the end, so memory stays flat
however many conversations there are. Rerunning the same command resumes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Iterator

from .analysis.realdata import method_stats, refusal_sql
from .backends.base import Backend
from .backends.registry import BackendOptions, load_backend
from .chat.types import Chat
from .datasets.conversations import Conversation, StreamStats, read_jsonl, stream
from .datasets.files import sha256_file
from .datasets.records import Prompt
from .errors import UserError
from .execute import (
    Executor,
    Reporter,
    Silent,
    Unit,
    make_unit,
    model_name,
    resolve_mode,
    sent_settings,
    temperature_for,
)
from .falsebail import judge_new_bails
from .keys import DATASET, OWN
from .methods import BAIL_METHODS, PROMPT_METHODS, ROLLOUT, check_ablation, resolve_methods
from .methods.wordings import BASELINE
from .refusal import classify_rollouts, load_classifier
from .store import COLUMNS, SampleRow, Store, write_summary

CONTEXT_OVER_LIMIT = "context_over_limit"


@dataclass(frozen=True)
class RealDataConfig:
    dataset: str = "sharegpt"  # sharegpt, wildchat, or a .json (ShareGPT), .jsonl ({"messages"}) or .parquet path
    model: str = "smollm2"
    methods: tuple[str, ...] = BAIL_METHODS
    ablation: str = BASELINE
    limit: int | None = 20  # conversations (after filtering); None = all
    fraction: float = 1.0  # a stable share of the dataset (the paper used a quarter of WildChat)
    english_only: bool = True  # WildChat: keep conversations whose every turn is tagged English
    max_tokens: int = 256
    max_context: int = 8000  # turns whose context is longer are skipped and counted
    temperature: float | None = None  # None: 1.0 where the backend takes a temperature
    bail_prompt_mode: str | None = None
    seed: int = 0
    cross_model: bool = False  # also put the check after the dataset's own assistant turn
    false_bail_filter: str | None = None  # a judge model spec
    refusal_classifier: str | None = None  # minos, heuristic, judge:SPEC: classify the model's own answers
    out: Path | None = None
    model_name: str | None = None
    options: BackendOptions = field(default_factory=BackendOptions)


@dataclass
class RealDataResult:
    out: Path
    summary: dict


def open_conversations(cfg: RealDataConfig, stats: StreamStats) -> tuple[str, str, Iterator]:
    """(dataset name, its identity, raw conversation stream)."""
    from .datasets.sharegpt import read_sharegpt, sharegpt_files
    from .datasets.wildchat import read_wildchat

    spec = cfg.dataset
    if spec == "sharegpt":
        files = sharegpt_files()
        ident = ",".join(f"{f.name}:{sha256_file(f)}" for f in files)
        return "sharegpt", ident, (r for f in files for r in read_sharegpt(f, stats))
    if spec == "wildchat":
        return "wildchat", "allenai/WildChat-1M", read_wildchat(None, english_only=cfg.english_only)
    if spec.startswith("inspect:"):  # the message histories of any Inspect AI log (a file or a folder of them)
        from .datasets.inspect_logs import read_inspect_logs

        return read_inspect_logs(Path(spec.removeprefix("inspect:")).expanduser(), stats)
    path = Path(spec).expanduser()
    if not path.exists():
        raise UserError(f"dataset {spec!r} not found: use sharegpt, wildchat, or a .json (ShareGPT), .jsonl "
                        "(lines of {\"messages\": [...]}) or .parquet (WildChat format) path")
    if path.is_dir() or path.suffix == ".parquet":
        files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
        ident = ",".join(f"{p.name}:{sha256_file(p)}" for p in files)
        return path.name, ident, read_wildchat(path, english_only=cfg.english_only)
    if path.suffix == ".jsonl":
        return path.name, sha256_file(path), read_jsonl(path, stats)
    if path.suffix == ".json":
        return path.name, sha256_file(path), read_sharegpt(path, stats)
    raise UserError(f"{path}: unknown conversation file type; use .json (ShareGPT), .jsonl or .parquet")


class _ByConversation:
    """Progress in conversations: the executor's per-sample advances are not shown."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter

    def start(self, total: int | None, description: str) -> None: ...
    def advance(self, n: int) -> None: ...

    def note(self, message: str) -> None:
        self.reporter.note(message)


class RealDataRun:
    def __init__(self, cfg: RealDataConfig, reporter: Reporter | None = None, backend: Backend | None = None):
        self.cfg = cfg
        self.reporter = reporter or Silent()
        self.methods = resolve_methods(",".join(cfg.methods))
        check_ablation(self.methods, cfg.ablation)
        if cfg.limit is not None and cfg.limit < 1:
            raise UserError("--limit must be at least 1 (or omit it for every conversation)")
        if not 0 < cfg.fraction <= 1:
            raise UserError("--fraction must be in (0, 1]")
        self.stats = StreamStats()
        self.dataset_name, dataset_id, self.raw = open_conversations(cfg, self.stats)
        opts = cfg.options
        if backend is None and opts.n_ctx < cfg.max_context + cfg.max_tokens + 512:
            # room for the longest context, the answer and the check after it
            opts = replace(opts, n_ctx=cfg.max_context + cfg.max_tokens + 512)
        self.backend = backend or load_backend(cfg.model, opts)
        self.model_name = model_name(self.backend, cfg.model, cfg.model_name)
        self.mode = resolve_mode(self.backend, cfg.bail_prompt_mode, cfg.model, self.reporter)
        self.temperature = temperature_for(self.backend, cfg.temperature, cfg.model)
        self.judge = load_backend(cfg.false_bail_filter) if cfg.false_bail_filter else None
        self.classifier = load_classifier(cfg.refusal_classifier) if cfg.refusal_classifier else None
        self.identity = {
            "kind": "realdata", "model": cfg.model, "backend": self.backend.identity(),
            "model_name": self.model_name, "dataset": self.dataset_name, "dataset_id": dataset_id,
            "fraction": cfg.fraction, "english_only": cfg.english_only, "temperature": self.temperature,
            "max_tokens": cfg.max_tokens, "max_context": cfg.max_context, "seed": cfg.seed,
            "n_ctx": getattr(self.backend, "n_ctx", None),
        }
        h = hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:8]
        self.out = cfg.out or Path("runs") / f"realdata-{self.dataset_name.split('.')[0]}-{h}"
        self.store = Store(self.out)
        self.store.check_identity(self.identity)
        self.quiet = _ByConversation(self.reporter)
        self.executor = Executor(self.backend, self.store, self.quiet, model_name=self.model_name,
                                 mode=self.mode, temperature=self.temperature, max_tokens=cfg.max_tokens)

    # -- planning ---------------------------------------------------------------------

    def units(self, conv: Conversation) -> list[Unit]:
        """Every user turn under each method; the model's own answer is the rollout."""
        need_rollout = (ROLLOUT in self.methods or self.classifier is not None
                        or any(m in PROMPT_METHODS for m in self.methods))
        out = []
        for turn, j in enumerate(conv.user_turns()):
            ctx = Prompt(conv.id, conv.messages[: j + 1], category=self.dataset_name)
            if need_rollout:
                out.append(make_unit(ctx, turn, ROLLOUT, "", "", self.cfg.seed))
            for m in self.methods:
                if m in PROMPT_METHODS:
                    out.append(make_unit(ctx, turn, m, self.cfg.ablation, self.mode, self.cfg.seed))
                    nxt = conv.messages[j + 1] if j + 1 < len(conv.messages) else None
                    if self.cfg.cross_model and nxt is not None and nxt.role == "assistant":
                        out.append(make_unit(ctx, turn, m, self.cfg.ablation, self.mode, self.cfg.seed, reply=nxt.content))
            out += [make_unit(ctx, turn, m, self.cfg.ablation, "", self.cfg.seed)
                    for m in self.methods if m not in PROMPT_METHODS and m != ROLLOUT]
        return out

    def _over_limit(self, units: list[Unit]) -> set[tuple[str, int]]:
        """Turns whose context exceeds max_context tokens (estimated at 4 characters a token
        where the backend cannot count, as for API models)."""
        over, seen = set(), set()
        for u in units:
            turn = (u.prompt.id, u.sample)
            if turn in seen:
                continue
            seen.add(turn)
            chat = Chat(u.prompt.messages)
            n = self.backend.count_tokens(chat)
            if n is None:
                n = math.ceil(sum(len(m.content) for m in chat.messages) / 4)
            if n > self.cfg.max_context:
                over.add(turn)
        return over

    # -- execution --------------------------------------------------------------------

    def execute(self) -> RealDataResult:
        convs = stream(self.raw, self.stats, fraction=self.cfg.fraction)
        if self.cfg.limit is not None:
            convs = islice(convs, self.cfg.limit)
        self.reporter.start(self.cfg.limit, f"{self.cfg.model} on {self.dataset_name} (conversations)")
        seq = new = reused = 0
        batch_size = max(1, self.backend.batch_size // 8) if self.backend.batch_size > 1 else 1
        while True:
            batch = list(islice(convs, batch_size))
            if not batch:
                break
            self.store.add_conversations([(seq + i, c.id, c.source_id, len(c.user_turns()))
                                          for i, c in enumerate(batch)])
            seq += len(batch)
            units = [u for c in batch for u in self.units(c)]
            done = self.store.done_keys(u.key for u in units)
            pending = [u for u in units if u.key not in done]
            reused += len(units) - len(pending)
            new += len(pending)
            over = self._over_limit(pending)
            if over:
                self.store.add([self._skipped(u) for u in pending if (u.prompt.id, u.sample) in over])
                pending = [u for u in pending if (u.prompt.id, u.sample) not in over]
            if pending:
                self.executor.run_batch(pending)
            if self.judge:
                judge_new_bails(self.judge, self.cfg.false_bail_filter, self.store,
                                [u for u in units if u.method in PROMPT_METHODS])
            if self.classifier:
                rollouts = self.store.get(u.key for u in units if u.method == ROLLOUT)
                classify_rollouts(self.classifier, self.store, list(rollouts.values()), self.quiet)
            self.reporter.advance(len(batch))
        summary = self._summary(seq, new=new, reused=reused)
        self._write(summary)
        return RealDataResult(self.out, summary)

    def _skipped(self, u: Unit) -> SampleRow:
        return SampleRow(key=u.key, prompt_id=u.prompt.id, category=u.prompt.category, subcategory="",
                         method=u.method, ablation=u.ablation, mode=u.mode, sample=u.sample, seed=u.seed,
                         rendered="", reply="", verdict=None, p_bail=None, mass=None, prompt_tokens=0,
                         completion_tokens=0, finish_reason="", seconds=0.0, skipped=CONTEXT_OVER_LIMIT,
                         prompt=u.prompt.content, source=u.id.source)

    # -- output -----------------------------------------------------------------------

    def _summary(self, n_convs: int, *, new: int, reused: int) -> dict:
        db = self.store.db
        judge = self.cfg.false_bail_filter
        refusals = self.classifier.spec if self.classifier else None
        methods = {m: method_stats(db, m, OWN, n_convs, judge if m in PROMPT_METHODS else None, refusals)
                   for m in self.methods if m != ROLLOUT}
        turns = db.execute("SELECT coalesce(sum(turns), 0) FROM conversations WHERE seq < ?", (n_convs,)).fetchone()[0]
        summary = {
            "model": self.cfg.model, "model_id": self.backend.model_id, "model_name": self.model_name,
            "dataset": self.dataset_name, "kind": "realdata", "samples": 1,
            "n_conversations": n_convs, "n_turns": turns, "n_prompts": turns,
            "fraction": self.cfg.fraction, "english_only": self.cfg.english_only,
            "ablation": self.cfg.ablation, "bail_prompt_mode": self.mode,
            **sent_settings(self.backend, self.mode, self.temperature),
            "max_tokens": self.cfg.max_tokens, "max_context": self.cfg.max_context, "seed": self.cfg.seed,
            "methods": methods,
            "conversations": self.stats.as_dict(),
            "new_samples": new, "reused_samples": reused,
        }
        if self.cfg.cross_model:
            summary["cross_model"] = {m: method_stats(db, m, DATASET, n_convs, judge)
                                      for m in self.methods if m in PROMPT_METHODS}
        if judge:
            summary["false_bail_filter"] = {"judge": judge, "applies_to": list(PROMPT_METHODS)}
        if self.classifier:
            summary["refusal"] = {"classifier": refusals, "description": self.classifier.description,
                                  **refusal_sql(db, refusals, n_convs)}
        return summary

    def _write(self, summary: dict) -> None:
        write_summary(self.out, summary)
        q = (f"SELECT {','.join('s.' + c for c in COLUMNS)} FROM samples s JOIN conversations c ON s.prompt_id = c.id "
             "WHERE c.seq < ? ORDER BY c.seq, s.sample, s.method")
        with open(self.out / "samples.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            for row in self.store.db.execute(q, (summary["n_conversations"],)):  # streamed, not loaded
                w.writerow(row)


def run_realdata(cfg: RealDataConfig, reporter: Reporter | None = None, backend: Backend | None = None) -> RealDataResult:
    """Run (or resume) bail measurement on real conversations; the library entry point."""
    return RealDataRun(cfg, reporter, backend).execute()
