"""`bailbench run`: the prompt source (a dataset, after a jailbreak prefix if any, or
another run's rollouts) times the samples, and its summary.

Work is grouped by (prompt, sample) and cut into batches from the whole plan, so a resumed
batch is the batch an uninterrupted run would run. The local engine sends each batch
through the session's one batch step (session.py): run what the store lacks, judge bails,
classify refusals, each stored as it finishes, so an interrupted run resumes where it
stopped; the Ray engine (sweep/ray_engine.py) runs the same batches on its workers.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from . import estimate
from .analysis.rates import ablation_rates, prompt_rates
from .backends.base import BackendLike
from .datasets.jailbreaks import load_prefix
from .datasets.records import Dataset, Prompt, stratified
from .datasets.registry import load_dataset
from .errors import UserError
from .execute import (
    Reporter,
    Unit,
)
from .falsebail import judge_new_bails
from .methods import (
    PROMPT_METHODS,
    ROLLOUT,
)
from .methods.wordings import BASELINE
from .refusal import classify_rollouts
from .session import ALL_ABLATIONS, CommonConfig, RunResult, Session, Tally, measure, slug
from .settings import at_least, setting, zero_is_none
from .store import Store

# `bailbench run` with no sizing flags is a quick look; --full is the paper's protocol.
# The paper sampled the bail prompt on BailBench (§2.3.2), so --full does too; the quick look
# reads it in one scoring pass where the backend can.
QUICK: dict = dict(limit=14, samples=2, max_tokens=256, bail_prompt_mode=None)
FULL: dict = dict(limit=None, samples=10, max_tokens=2000, bail_prompt_mode="sample")


def _limit_check(v: int) -> str | None:
    return "is negative: give a number of prompts, or 0 for every prompt" if v < 0 else None


@dataclass(frozen=True)
class RunConfig(CommonConfig):
    dataset: str = setting("bailbench", "bailbench, bailharmbench, neutral, or a .csv/.jsonl path.", axis="datasets")
    samples: int = setting(QUICK["samples"], "Samples per prompt and method [quick: 2, --full: 10].",
                           check=at_least(1, 10_000), preset=True)
    limit: int | None = setting(QUICK["limit"], "Prompts to take, stratified over categories; 0 = all [quick: 14, "
                                                "--full: all].", convert=zero_is_none, check=_limit_check, preset=True)
    data_dir: str | None = setting(None, "Folder holding the released dataset files.", envvar="BAILBENCH_DATA_DIR",
                                   in_files=False)
    prefix: str | None = setting(None, "Jailbreak prefix before every prompt: one of the paper's 18 by name (e.g. "
                                       "DAN, Hi, DeveloperModeQ3) or a JSON file of messages.", axis="prefixes")
    rollouts_from: Path | None = setting(None, "Cross-model: put the bail prompt after this run's rollouts instead "
                                               "of the model's own.", convert=Path, axis="rollouts_from")


def _with_prefix(prompt: Prompt, prefix: tuple) -> Prompt:
    """The prefix conversation goes before the prompt (after a system message, if any);
    the prompt keeps its id so runs with and without a prefix line up."""
    msgs = prompt.messages
    head = msgs[:1] if msgs and msgs[0].role == "system" else ()
    return replace(prompt, messages=head + prefix + msgs[len(head):])


def chosen_prompts(cfg: RunConfig) -> tuple[Dataset, list[Prompt], str | None, str | None]:
    """The dataset, the prompts a run of `cfg` measures (after its jailbreak prefix, if any),
    the prefix's name and a hash of it: what a run measures and what `--plan` prices."""
    dataset = load_dataset(cfg.dataset, cfg.data_dir)
    prompts = stratified(dataset.prompts, cfg.limit)
    if not cfg.prefix:
        return dataset, prompts, None, None
    name, prefix = load_prefix(cfg.prefix, cfg.data_dir)
    prefix_hash = hashlib.sha256(json.dumps([m.as_dict() for m in prefix]).encode()).hexdigest()[:16]
    return dataset, [_with_prefix(p, prefix) for p in prompts], name, prefix_hash


Engine = Callable[[Session, list[list[Unit]]], int]  # runs the batches the store lacks; the samples it ran


def run_here(session: Session, batches: list[list[Unit]]) -> int:
    """The local engine: each batch through the session's batch step, in this process, with
    a note up front when the run will take long (from earlier runs, or its first batch)."""
    total = sum(len(b) for b in batches)
    speed_key = json.dumps([session.identity["backend"], session.cfg.max_tokens, session.mode], sort_keys=True)
    known = estimate.rate(speed_key)
    if known and total / known > estimate.LONG:
        session.reporter.note(estimate.describe(total, known, "by earlier runs on this machine"))
    start, ran = time.perf_counter(), 0
    for batch in batches:
        ran += session.process(batch)
        if known is None and ran < total:  # no earlier figure: the first batch gives one
            known = ran / (time.perf_counter() - start)
            if (total - ran) / known > estimate.LONG:
                session.reporter.note(estimate.describe(total - ran, known, "on this run's first samples"))
    estimate.record(speed_key, ran, time.perf_counter() - start)
    return ran


class Prompts:
    """The source of `bailbench run`: a prompt dataset (after a jailbreak prefix, if any)
    times the samples, or with --rollouts-from the bail prompt after another run's
    rollouts. `engine` runs its batches: here (`run_here`) or on Ray workers."""

    counts_samples = True

    def __init__(self, cfg: RunConfig, engine: Engine = run_here):
        self.cfg, self.engine = cfg, engine
        self.dataset, self.prompts, self.prefix_name, self.prefix_hash = chosen_prompts(cfg)
        self.name = f"{slug(cfg.model)}-{slug(self.dataset.name)}"
        self.rollouts = self._rollout_source()

    def session(self, reporter: Reporter | None, backend: BackendLike | None) -> Session:
        return Session(self.cfg, reporter, backend, all_ablations=True, sampled_check=True)

    def identity(self, session: Session) -> dict:
        rollouts_from = None
        if self.rollouts is not None and self.cfg.rollouts_from is not None:  # checked to have an identity
            rollouts_from = {"run": str(self.cfg.rollouts_from.resolve()),
                             "model": (self.rollouts.identity() or {})["model"]}
        return {"dataset": self.dataset.name, "dataset_sha256": self.dataset.sha256,
                "prefix": self.prefix_hash and {"name": self.prefix_name, "sha256": self.prefix_hash},
                "rollouts_from": rollouts_from}

    def _rollout_source(self) -> Store | None:
        """The run whose rollouts the bail prompt follows instead of this model's own."""
        if not self.cfg.rollouts_from:
            return None
        source = Store(Path(self.cfg.rollouts_from), create=False)
        theirs = source.identity() or {}
        if theirs.get("dataset_sha256") != self.dataset.sha256:
            source.close()
            raise UserError(f"--rollouts-from {self.cfg.rollouts_from} is a run over {theirs.get('dataset')!r}, "
                            f"another dataset than {self.dataset.name!r}; use a run over the same dataset")
        if (theirs.get("prefix") or {}).get("sha256") != self.prefix_hash:
            source.close()
            raise UserError(f"--rollouts-from {self.cfg.rollouts_from} was run with another --prefix; "
                            "use the same prefix in both runs")
        return source

    def plan(self, session: Session) -> list[list[Unit]]:
        """Units per (prompt, sample) group, in dependency order: rollout, prompts, tool/string."""
        return [session.units_for(p, s) for p in self.prompts for s in range(self.cfg.samples)]

    def measure(self, session: Session) -> Tally:
        groups = self.plan(session)
        all_keys = [u.key for g in groups for u in g]
        if self.rollouts is not None:
            self._import_rollouts(session.store, [u for g in groups for u in g if u.method == ROLLOUT])
        todo = batches(session, groups)
        session.reporter.start(sum(len(b) for b in todo), f"{self.cfg.model} on {self.dataset.name}")
        new = self.engine(session, todo)
        missing = len(all_keys) - len(session.store.done_keys(all_keys))
        if missing:  # cannot happen unless the store was edited under us
            raise RuntimeError(f"{missing} planned samples are missing from {session.store.path}")
        if session.judge and self.cfg.false_bail_filter:  # bails stored by another engine (Ray workers) are judged here
            judge_new_bails(session.judge, self.cfg.false_bail_filter, session.store,
                            [u for g in groups for u in g if u.method in PROMPT_METHODS])
        if session.classifier:  # rollouts imported from another run, or stored by another engine
            keys = [u.key for g in groups for u in g if u.method == ROLLOUT]
            rollouts = session.store.get(keys)
            classify_rollouts(session.classifier, session.store, [rollouts[k] for k in keys], session.reporter)
        session.store.choose(all_keys)
        return Tally(new, len(all_keys) - new)

    def close(self) -> None:
        if self.rollouts is not None:
            self.rollouts.close()

    def _import_rollouts(self, store: Store, units: list[Unit]) -> None:
        """Copy the rollouts of --rollouts-from into this run's store (the checks follow them)."""
        assert self.rollouts is not None, "importing rollouts needs --rollouts-from"
        theirs = self.rollouts.get(u.key for u in units)
        lacking = [u for u in units if u.key not in theirs]
        if lacking:
            most = max((u.sample for u in units if u.key in theirs), default=-1) + 1
            raise UserError(f"--rollouts-from {self.cfg.rollouts_from} has no rollout for {len(lacking)} of the "
                            f"{len(units)} samples needed (it has up to {most} per prompt, for its own prompts); "
                            "run it with at least these --samples and --limit")
        store.add(list(theirs.values()))

    def summary(self, session: Session, tally: Tally) -> dict:
        db, cfg = session.store.db, self.cfg
        main_ablation = BASELINE if cfg.ablation == ALL_ABLATIONS else cfg.ablation
        bails = [m for m in session.methods if m != ROLLOUT]
        judge = cfg.false_bail_filter if session.judge else None
        summary = {
            **session.summary_head(self.dataset.name, cfg.samples),
            "dataset_sha256": self.dataset.sha256,
            "n_prompts": len(self.prompts),
            "n_categories": len({p.category for p in self.prompts}),
            "prefix": self.prefix_name,
            "rollouts_from": session.identity["rollouts_from"],
            **prompt_rates(db, bails, main_ablation, judge=judge,
                           classifier=session.classifier.spec if session.classifier else None),
            "skipped_rows": dict(self.dataset.skipped),
            "skipped_lines": self.dataset.skipped_lines,  # the first few, to find them in the file
            "new_samples": tally.new,
            "reused_samples": tally.reused,
        }
        if cfg.ablation == ALL_ABLATIONS:
            summary["ablations"] = ablation_rates(db, {m: session.ablations_for(m) for m in bails})
        if session.classifier:
            summary["refusal"] = session.refusal_block(summary.pop("refusal"))
        return summary


def batches(session: Session, groups: list[list[Unit]]) -> list[list[Unit]]:
    """What the store lacks, in the batches the backend runs. They are cut from the whole
    plan, not from what is left of it, so a resumed batch holds the same units as in an
    uninterrupted run (batched engines may round differently with another batch
    composition); the local engine and the Ray engine both run these."""
    done = session.store.done_keys(u.key for g in groups for u in g)
    step = max(1, session.backend.batch_size or 1)
    cut = [[u for g in groups[i:i + step] for u in g if u.key not in done] for i in range(0, len(groups), step)]
    return [b for b in cut if b]


def run(cfg: RunConfig, reporter: Reporter | None = None, backend: BackendLike | None = None) -> RunResult:
    """Run (or resume) a BailBench-style measurement; the library entry point.

    `backend` overrides `cfg.model` with a backend object built by the caller (any
    `Backend` implementation); `cfg.model` still names the run. A steered run (`--steer`)
    runs its controls too (mechanism/controls.py)."""
    if cfg.options.steer:
        from .mechanism.controls import run_with_controls

        return run_with_controls(cfg, _run_once, reporter, backend)
    return _run_once(cfg, reporter, backend)


def _run_once(cfg: RunConfig, reporter: Reporter | None, backend: BackendLike | None) -> RunResult:
    return measure(Prompts(cfg), reporter, backend)
