"""What every run does the same way, wherever its contexts come from (a prompt dataset,
prompts after a jailbreak prefix, another run's rollouts, the user turns of real
conversations): the settings every run shares, the backend and how it is read, the run
directory bound to the run's identity, and the one batch step: skip what the store holds,
run the rest, judge the bail prompt's bails, classify the rollouts' refusals, each stored
as it finishes so that a rerun resumes.

A run of any kind is this session over a `Source` of contexts (`measure`): a prompt
dataset times the samples (runner.Prompts), every user turn of real conversations
(realdata.Conversations), simulated users turn by turn (simulate.run.Simulated). A source
says where its contexts come from, how they are batched and what its summary reports;
a new kind of run is a new source.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from .backends.base import BackendLike
from .backends.registry import BackendOptions, load_backend
from .datasets.records import Prompt
from .errors import UserError
from .execute import (
    Executor,
    Mode,
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
from .methods import (
    ALL_METHODS,
    BAIL_METHODS,
    KIND,
    OFFERED_METHODS,
    PROMPT_METHODS,
    ROLLOUT,
    check_ablation,
    needs_rollout,
    resolve_methods,
)
from .methods.protocol import DEFAULT, PAPER, resolve_protocol
from .methods.registry import method_spec
from .methods.wordings import ALL_ABLATIONS, BASELINE, ablations
from .refusal import classify_rollouts, load_classifier
from .settings import Checked, at_least, between, one_of, setting
from .store import SampleRow, Store, write_summary
from .summary import summary_head, usage_block

_COUNTS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def methods_help() -> str:
    """The --methods help, naming the registered methods."""
    n = len(BAIL_METHODS)
    return (f"Comma list of {', '.join(ALL_METHODS)}; all = the {_COUNTS[n] if n < len(_COUNTS) else n} bail "
            "methods.")


def _methods(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A comma list (the CLI's spelling) or a sequence of names, each checked."""
    names = value.split(",") if isinstance(value, str) else list(value)
    return tuple(resolve_methods(",".join(names))) if all(isinstance(n, str) for n in names) else tuple(names)


@dataclass(frozen=True)
class CommonConfig(Checked):
    """The settings of every run; `RunConfig` and `RealDataConfig` add their sources'."""

    model: str = setting("smollm2", "Model spec: smollm2 (embedded), gguf:PATH, hf:REPO, vllm:REPO, openai:MODEL, "
                                    "anthropic:MODEL.", in_files=False)
    methods: tuple[str, ...] = setting(
        BAIL_METHODS, methods_help(), convert=_methods, cli_type=str, cli_default="all")
    ablation: str = setting(BASELINE, "Prompt-wording ablation (see `bailbench prompts --list-ablations`); all = "
                                      "every ablation of each method, reported against Baseline.", axis="ablations")
    max_tokens: int = setting(256, "Most new tokens per reply [quick: 256, --full: 2000].", check=at_least(1, 10**7),
                              preset=True)
    temperature: float | None = setting(None, "Sampling temperature [1.0, as the paper's open-weight runs; APIs "
                                              "without a temperature send none and refuse this flag].",
                                        check=between(0, 100, "a temperature"))
    bail_prompt_mode: str | None = setting(
        None, "logprob (one scoring pass; default where the backend gives logprobs) or sample [--full and "
              "--protocol paper: sample, as the paper].", check=one_of("logprob", "sample"), preset=True)
    seed: int = setting(0, "Seed; each sample's seed derives from it, so reruns reproduce.",
                        check=between(-(2**63), 2**63 - 1, "a 64-bit seed"))
    out: Path | None = setting(None, "Run directory [runs/<model or realdata>-<dataset>-<settings hash>]; rerun into "
                                     "it to resume.", convert=Path, in_files=False)
    model_name: str | None = setting(None, "The name the model knows itself by, for {model_name} in the wordings.",
                                     in_files=False)
    options: BackendOptions = field(default_factory=BackendOptions)  # backend flags, declared in BackendOptions
    refusal_classifier: str | None = setting(
        None, "Classify refusals of the model's own replies: minos (the paper's; minos:PATH for a local copy), "
              "judge:MODEL_SPEC, or heuristic (offline phrases).")
    false_bail_filter: str | None = setting(
        None, "Judge model spec for the paper's false-bail filter of the bail prompt (appendix A.3.1).")
    protocol: str = setting(DEFAULT, "default (bailbench's: DESIGN, the authors' bugs fixed) or paper (the authors' "
                                     "pipeline as it ran, for `reproduce`); the README lists every difference.",
                            check=one_of(DEFAULT, PAPER))


class _Quiet:
    """Per-batch judging and classifying: notes pass, progress is the run's own."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter

    def start(self, total: int | None, description: str) -> None: ...
    def advance(self, n: int) -> None: ...

    def note(self, message: str) -> None:
        self.reporter.note(message)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(text).stem if "/" in text or "." in text else text).strip("-")[:40]


class Session:
    def __init__(self, cfg: CommonConfig, reporter: Reporter | None, backend: BackendLike | None, *,
                 options: BackendOptions | None = None, all_ablations: bool = False, sampled_check: bool = False):
        """`sampled_check`: the `paper` protocol samples the bail prompt here (BailBench: the
        authors sampled it there; on real data they read logprobs)."""
        self.cfg = cfg
        self.reporter = reporter or Silent()
        self.quiet = _Quiet(self.reporter)
        self.methods = resolve_methods(",".join(cfg.methods))
        if not (all_ablations and cfg.ablation == ALL_ABLATIONS):
            check_ablation(self.methods, cfg.ablation)
        self.classifier = load_classifier(cfg.refusal_classifier) if cfg.refusal_classifier else None
        self.judge = load_backend(cfg.false_bail_filter) if cfg.false_bail_filter else None
        self._own_backend = backend is None
        self.backend: BackendLike = backend or load_backend(cfg.model, options or cfg.options)
        n_ctx = getattr(self.backend, "n_ctx", math.inf)  # local backends know their context window
        if cfg.max_tokens >= n_ctx:
            raise UserError(f"--max-tokens {cfg.max_tokens} does not fit the model's context of "
                            f"{n_ctx} tokens; lower it")
        self.protocol = resolve_protocol(cfg.protocol)
        for m in self.methods:  # a syntax bailbench cannot read must never become a silent 0
            if m != ROLLOUT and (preflight := method_spec(m).preflight):
                preflight(self.backend.tool_format, cfg.model)
        self.model_name = model_name(self.backend, cfg.model, cfg.model_name, self.protocol)
        wanted = cfg.bail_prompt_mode
        if self.protocol == PAPER and sampled_check:
            if wanted not in (None, Mode.SAMPLE):
                raise UserError(f"--protocol paper samples the bail prompt as the authors did; drop "
                                f"--bail-prompt-mode {wanted}, or use --protocol default")
            wanted = Mode.SAMPLE
        self.mode = resolve_mode(self.backend, wanted, cfg.model, self.reporter)
        self.temperature = temperature_for(self.backend, cfg.temperature, cfg.model)
        self.needs_rollout = needs_rollout(self.methods, self.classifier is not None)

    def open(self, source: dict, name: str, progress: Reporter) -> None:
        """Bind the run directory to what makes this run this run (the source's identity
        and the shared settings); a directory holding another run is refused."""
        self.identity = {
            "model": self.cfg.model, "backend": self.backend.identity(), "model_name": self.model_name,
            "temperature": self.temperature, "max_tokens": self.cfg.max_tokens, "seed": self.cfg.seed,
            "n_ctx": getattr(self.backend, "n_ctx", None), "protocol": self.protocol, **source,
        }
        # default runs keep the directory names of versions that had one protocol
        named = {k: v for k, v in self.identity.items() if (k, v) != ("protocol", DEFAULT)}
        digest = hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest()[:8]
        self.out = self.cfg.out or Path("runs") / f"{name}-{digest}"
        self.store = Store(self.out)
        self.store.check_identity(self.identity)
        bind = getattr(self.backend, "bind", None)
        if bind is not None:  # a backend that keeps state of its own (a batch API's job ledger) keeps it here
            bind(self.out)
        self.executor = Executor(self.backend, self.store, progress, model_name=self.model_name, mode=self.mode,
                                 temperature=self.temperature, max_tokens=self.cfg.max_tokens,
                                 protocol=self.protocol, spec=self.cfg.model)

    def summary_head(self, dataset: str, samples: int) -> dict:
        """The settings block every run's summary.json opens with, whatever its contexts."""
        return summary_head(model=self.cfg.model, model_id=self.backend.model_id, model_name=self.model_name,
                            dataset=dataset, samples=samples, ablation=self.cfg.ablation, bail_prompt_mode=self.mode,
                            sent=sent_settings(self.backend, self.mode, self.temperature, self.protocol),
                            max_tokens=self.cfg.max_tokens, seed=self.cfg.seed,
                            usage=usage_block(self.store.db, self.cfg.model, bool(self.cfg.options.batch)))

    def refusal_block(self, stats: dict) -> dict:
        """The summary's `refusal` entry: which classifier, what it reads, its rates."""
        assert self.classifier is not None
        return {"classifier": self.classifier.spec, "description": self.classifier.description, **stats}

    def process(self, units: list[Unit], skip: Callable[[list[Unit]], list[SampleRow]] | None = None) -> int:
        """One batch: what the store lacks is run (or stored as skipped by `skip`), then the
        batch's bails are judged and its rollouts classified. Returns the new samples."""
        done = self.store.done_keys(u.key for u in units)
        pending = [u for u in units if u.key not in done]
        if skip and pending:
            skipped = skip(pending)
            self.store.add(skipped)
            gone = {r.key for r in skipped}
            pending = [u for u in pending if u.key not in gone]
        if pending:
            self.executor.run_batch(pending)
        if self.judge and self.cfg.false_bail_filter:  # the judge is loaded from this spec
            judge_new_bails(self.judge, self.cfg.false_bail_filter, self.store,
                            [u for u in units if u.method in PROMPT_METHODS])
        if self.classifier:
            rollouts = self.store.get(u.key for u in units if u.method == ROLLOUT)
            classify_rollouts(self.classifier, self.store, list(rollouts.values()), self.quiet)
        return len(units) - len(done)

    def ablations_for(self, method: str) -> list[str]:
        return ablations(KIND[method]) if self.cfg.ablation == ALL_ABLATIONS else [self.cfg.ablation]

    def units_for(self, prompt: Prompt, sample: int, dataset_reply: str | None = None) -> list[Unit]:
        """The work on one context, in dependency order: the rollout, the bail prompts that
        follow it (and, given the dataset's own reply, the same checks after that reply:
        the cross-model view), then the replies with an option offered (tool, string)."""
        seed = self.cfg.seed
        out = [make_unit(prompt, sample, ROLLOUT, "", "", seed)] if self.needs_rollout else []
        for m in self.methods:
            if m in PROMPT_METHODS:
                for a in self.ablations_for(m):
                    out.append(make_unit(prompt, sample, m, a, self.mode, seed))
                    if dataset_reply is not None:
                        out.append(make_unit(prompt, sample, m, a, self.mode, seed, reply=dataset_reply))
        return out + [make_unit(prompt, sample, m, a, "", seed)
                      for m in self.methods if m in OFFERED_METHODS for a in self.ablations_for(m)]

    def close(self) -> None:
        """Release the run directory (its store and write lock) and a backend the session
        loaded; once, however the run ended, so a notebook that caught an error can rerun."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        if hasattr(self, "store"):
            self.store.close()
        if self._own_backend:
            self.backend.close()


@dataclass
class RunResult:
    """A finished run: its directory and what its summary.json says."""

    out: Path
    summary: dict


@dataclass(frozen=True)
class Tally:
    """What one invocation did: the samples it ran, and those the store held from before."""

    new: int
    reused: int


class Source(Protocol):
    """One kind of run. A source checks its input (files, scenarios, settings) when it is
    made, before any model is loaded; `measure` does the rest in this order."""

    name: str  # the run directory's stem: runs/NAME-<hash of the identity>
    counts_samples: bool  # the run's progress is its samples (else the source advances its own units)

    def session(self, reporter: Reporter | None, backend: BackendLike | None) -> Session:
        """The session its contexts run in: the shared settings, as this kind sets them."""
        ...

    def identity(self, session: Session) -> dict:
        """What makes this run this run, beside the shared settings."""
        ...

    def measure(self, session: Session) -> Tally:
        """Run every context the store lacks, and mark this invocation's rows as chosen."""
        ...

    def summary(self, session: Session, tally: Tally) -> dict:
        ...

    def close(self) -> None:
        """Release what the source holds open (another run's store, a user model)."""
        ...


def measure(source: Source, reporter: Reporter | None = None, backend: BackendLike | None = None) -> RunResult:
    """Run (or resume) one run of any kind: the source's session bound to its run directory,
    every context the store lacks run, then summary.json and samples.csv written. The
    directory, the source and a backend the run loaded are released however it ends."""
    try:
        session = source.session(reporter, backend)
        try:
            session.open(source.identity(session), source.name,
                         session.reporter if source.counts_samples else session.quiet)
            summary = source.summary(session, source.measure(session))
            write_summary(session.out, summary)
            session.store.write_csv(session.out / "samples.csv")
            return RunResult(session.out, summary)
        finally:
            session.close()
    finally:
        source.close()
