"""`bailbench run`: the prompt source (a dataset, after a jailbreak prefix if any, or
another run's rollouts) times the samples, and its summary.

Work is grouped by (prompt, sample) and cut into batches from the whole plan, so a resumed
batch is the batch an uninterrupted run would run. Each batch goes through the session's
one batch step (session.py): run what the store lacks, judge bails, classify refusals,
each stored as it finishes, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

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
from .session import ALL_ABLATIONS, CommonConfig, Session, slug
from .settings import at_least, setting, zero_is_none
from .store import Store, write_summary

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


@dataclass
class RunResult:
    out: Path
    summary: dict
    dataset: Dataset = field(repr=False)


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


class Run:
    """One invocation over a prompt dataset: its contexts are the prompts (after a jailbreak
    prefix, if any) times the samples; the rest is the shared session."""

    def __init__(self, cfg: RunConfig, reporter: Reporter | None = None, backend: BackendLike | None = None):
        self.cfg = cfg
        self.dataset, self.prompts, self.prefix_name, prefix_hash = chosen_prompts(cfg)
        self.source = self._rollout_source(prefix_hash)
        self.session = session = Session(cfg, reporter, backend, all_ablations=True, sampled_check=True)
        self.reporter, self.backend, self.methods = session.reporter, session.backend, session.methods
        self.classifier, self.judge, self.mode = session.classifier, session.judge, session.mode
        self.model_name, self.temperature = session.model_name, session.temperature
        session.open({"dataset": self.dataset.name, "dataset_sha256": self.dataset.sha256,
                      "prefix": prefix_hash and {"name": self.prefix_name, "sha256": prefix_hash},
                      "rollouts_from": self._source_identity()},
                     f"{slug(cfg.model)}-{slug(self.dataset.name)}", self.reporter)
        self.identity, self.out, self.store = session.identity, session.out, session.store

    def _source_identity(self) -> dict | None:
        if self.source is None or self.cfg.rollouts_from is None:
            return None
        # _rollout_source checked that the source has an identity
        return {"run": str(self.cfg.rollouts_from.resolve()), "model": (self.source.identity() or {})["model"]}

    def _rollout_source(self, prefix_hash: str | None) -> Store | None:
        """The run whose rollouts the bail prompt follows instead of this model's own."""
        if not self.cfg.rollouts_from:
            return None
        source = Store(Path(self.cfg.rollouts_from), create=False)
        theirs = source.identity() or {}
        if theirs.get("dataset_sha256") != self.dataset.sha256:
            raise UserError(f"--rollouts-from {self.cfg.rollouts_from} is a run over {theirs.get('dataset')!r}, "
                            f"another dataset than {self.dataset.name!r}; use a run over the same dataset")
        if (theirs.get("prefix") or {}).get("sha256") != prefix_hash:
            raise UserError(f"--rollouts-from {self.cfg.rollouts_from} was run with another --prefix; "
                            "use the same prefix in both runs")
        return source

    def ablations_for(self, method: str) -> list[str]:
        return self.session.ablations_for(method)

    def plan(self) -> list[list[Unit]]:
        """Units per (prompt, sample) group, in dependency order: rollout, prompts, tool/string."""
        return [self.session.units_for(p, s) for p in self.prompts for s in range(self.cfg.samples)]

    # -- execution --------------------------------------------------------------------

    def batches(self, groups: list[list[Unit]]) -> list[list[Unit]]:
        """What the store lacks, in the batches the backend runs. They are cut from the whole
        plan, not from what is left of it, so a resumed batch holds the same units as in an
        uninterrupted run (batched engines may round differently with another batch
        composition); the local engine and the Ray engine both run these."""
        done = self.store.done_keys(u.key for g in groups for u in g)
        step = max(1, self.backend.batch_size or 1)
        cut = [[u for g in groups[i:i + step] for u in g if u.key not in done] for i in range(0, len(groups), step)]
        return [b for b in cut if b]

    def execute(self, computed_elsewhere: int = 0) -> RunResult:
        """Run what the store lacks, then summarise. `computed_elsewhere`: samples of this
        invocation another engine stored before (Ray workers), counted as new."""
        groups = self.plan()
        all_keys = [u.key for g in groups for u in g]
        if self.source:
            self.import_rollouts([u for g in groups for u in g if u.method == ROLLOUT])
        batches = self.batches(groups)
        total = sum(len(b) for b in batches)
        self.reporter.start(total, f"{self.cfg.model} on {self.dataset.name}")
        speed_key = json.dumps([self.identity["backend"], self.cfg.max_tokens, self.mode], sort_keys=True)
        known = estimate.rate(speed_key)
        if known and total / known > estimate.LONG:
            self.reporter.note(estimate.describe(total, known, "by earlier runs on this machine"))
        start, ran = time.perf_counter(), 0
        for batch in batches:
            ran += self.session.process(batch)
            if known is None and ran < total:  # no earlier figure: the first batch gives one
                known = ran / (time.perf_counter() - start)
                if (total - ran) / known > estimate.LONG:
                    self.reporter.note(estimate.describe(total - ran, known, "on this run's first samples"))
        estimate.record(speed_key, ran, time.perf_counter() - start)
        missing = len(all_keys) - len(self.store.done_keys(all_keys))
        if missing:  # cannot happen unless the store was edited under us
            raise RuntimeError(f"{missing} planned samples are missing from {self.store.path}")
        if self.judge and self.cfg.false_bail_filter:  # bails stored by another engine (Ray workers) are judged here
            judge_new_bails(self.judge, self.cfg.false_bail_filter, self.store,
                            [u for g in groups for u in g if u.method in PROMPT_METHODS])
        if self.classifier:  # rollouts imported from another run, or stored by another engine
            keys = [u.key for g in groups for u in g if u.method == ROLLOUT]
            rollouts = self.store.get(keys)
            classify_rollouts(self.classifier, self.store, [rollouts[k] for k in keys], self.reporter)
        new = total + computed_elsewhere
        self.store.choose(all_keys)
        summary = self._summary(new=new, reused=len(all_keys) - new)
        self._write(summary)
        self.session.close()
        return RunResult(self.out, summary, self.dataset)

    def close(self) -> None:
        self.session.close()
        if self.source is not None:
            self.source.close()

    def import_rollouts(self, units: list[Unit]) -> None:
        """Copy the rollouts of --rollouts-from into this run's store (the checks follow them)."""
        assert self.source is not None, "import_rollouts needs --rollouts-from"
        theirs = self.source.get(u.key for u in units)
        lacking = [u for u in units if u.key not in theirs]
        if lacking:
            most = max((u.sample for u in units if u.key in theirs), default=-1) + 1
            raise UserError(f"--rollouts-from {self.cfg.rollouts_from} has no rollout for {len(lacking)} of the "
                            f"{len(units)} samples needed (it has up to {most} per prompt, for its own prompts); "
                            "run it with at least these --samples and --limit")
        self.store.add(list(theirs.values()))

    # -- output -----------------------------------------------------------------------

    def _summary(self, *, new: int, reused: int) -> dict:
        db = self.store.db
        main_ablation = BASELINE if self.cfg.ablation == ALL_ABLATIONS else self.cfg.ablation
        bails = [m for m in self.methods if m != ROLLOUT]
        judge = self.cfg.false_bail_filter if self.judge else None
        summary = {
            **self.session.summary_head(self.dataset.name, self.cfg.samples),
            "dataset_sha256": self.dataset.sha256,
            "n_prompts": len(self.prompts),
            "n_categories": len({p.category for p in self.prompts}),
            "prefix": self.prefix_name,
            "rollouts_from": self.identity["rollouts_from"],
            **prompt_rates(db, bails, main_ablation, judge=judge,
                           classifier=self.classifier.spec if self.classifier else None),
            "skipped_rows": dict(self.dataset.skipped),
            "skipped_lines": self.dataset.skipped_lines,  # the first few, to find them in the file
            "new_samples": new,
            "reused_samples": reused,
        }
        if self.cfg.ablation == ALL_ABLATIONS:
            summary["ablations"] = ablation_rates(db, {m: self.ablations_for(m) for m in bails})
        if self.classifier:
            summary["refusal"] = self.session.refusal_block(summary.pop("refusal"))
        return summary

    def _write(self, summary: dict) -> None:
        write_summary(self.out, summary)
        self.store.write_csv(self.out / "samples.csv")


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
    run = Run(cfg, reporter, backend)
    try:
        return run.execute()
    finally:
        run.close()
