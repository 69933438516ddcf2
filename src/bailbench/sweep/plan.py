"""Expand an experiment into runs: one RunConfig (or RealDataConfig) each, with its own
directory under the sweep, in an order where every run comes after the runs whose
rollouts it reads. Counting samples needs only the dataset, never the model."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path

from ..datasets.records import stratified
from ..datasets.registry import load_dataset
from ..errors import UserError
from ..methods import KIND, PROMPT_METHODS, ROLLOUT, needs_rollout, resolve_methods
from ..methods.wordings import BASELINE, ablations
from ..realdata import RealDataConfig
from ..runner import ALL_ABLATIONS, RunConfig
from ..simulate.run import SimulateConfig
from .spec import BAILBENCH, NO_PREFIX, OWN, SIMULATE, Experiment, Model

RUNS_DIR = "runs"
# Real conversations are streamed: their size is known only after the run. For --plan we
# assume these mean user turns per conversation (an estimate, said so in the output).
TURNS_PER_CONVERSATION = {"wildchat": 2.5, "sharegpt": 3.5}
CONVERSATIONS = {"wildchat": 409_938, "sharegpt": 17_671}  # English WildChat; offline ShareGPT


@dataclass
class PlannedRun:
    id: str  # also its directory name under <sweep>/runs
    model: Model
    kind: str
    config: RunConfig | RealDataConfig | SimulateConfig
    dataset: str
    ablation: str
    prefix: str | None
    rollouts_from: str | None  # the label or directory whose rollouts the bail prompt follows
    depends_on: str | None  # id of the run in this sweep that must finish first
    samples: int | None  # planned sample rows; for real data an estimate
    estimated: bool = False
    prompts: int | None = None  # a BailBench run's prompts; None for real data

    def describe(self) -> dict:
        return {"id": self.id, "dir": f"{RUNS_DIR}/{self.id}", "kind": self.kind, "model": self.model.spec,
                "label": self.model.label, "dataset": self.dataset, "ablation": self.ablation, "prefix": self.prefix,
                "rollouts_from": self.rollouts_from, "depends_on": self.depends_on, "samples": self.samples,
                "samples_estimated": self.estimated,
                "methods": list(self.config.methods)}

# A simulated-users run's own settings, part of its identity (other kinds' ids stay as they were).
SIMULATE_KEYS = ("user", "scenarios", "turns", "conversations", "check", "paired", "user_max_tokens",
                 "user_temperature", "retries")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:40]


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:6]


def units_per_group(methods: list[str], ablation: str, classified: bool) -> int:
    """Sample rows per (prompt, sample): the rollout, and each method x ablation."""
    rollout = needs_rollout(methods, classified)
    per = sum(len(ablations(KIND[m])) if ablation == ALL_ABLATIONS else 1 for m in methods if m != ROLLOUT)
    return per + int(rollout)


class _Datasets:
    """Prompt counts per (dataset, limit), each dataset read once."""

    def __init__(self):
        self.loaded = {}

    def prompts(self, name: str, limit: int | None) -> int:
        if name not in self.loaded:
            self.loaded[name] = load_dataset(name, None)
        return len(stratified(self.loaded[name].prompts, limit))


def expand(exp: Experiment, sweep_dir: Path) -> list[PlannedRun]:
    """Every run of the experiment, sources of rollouts first."""
    runs: list[PlannedRun] = []
    datasets = _Datasets()
    for model in exp.models:
        s = exp.settings(model)
        if s["kind"] == SIMULATE:
            runs += [_simulate_run(exp, model, s, ablation, sweep_dir) for ablation in s["ablations"]]
            continue
        methods = tuple(resolve_methods(",".join(s["methods"])))
        axes = product(s["datasets"], s["ablations"] if s["kind"] == BAILBENCH else [BASELINE],
                       s["prefixes"] if s["kind"] == BAILBENCH else [NO_PREFIX],
                       s["rollouts_from"] if s["kind"] == BAILBENCH else [OWN])
        for dataset, ablation, prefix, source in axes:
            prefix = None if prefix == NO_PREFIX else prefix
            source = None if source == OWN else source
            ident = {"spec": model.spec, "options": asdict(model.options), "model_name": model.model_name,
                     "kind": s["kind"], "dataset": dataset, "ablation": ablation, "prefix": prefix, "source": source,
                     "temperature": s["temperature"], "max_tokens": s["max_tokens"], "seed": s["seed"],
                     "mode": s["bail_prompt_mode"], "fraction": s["fraction"], "english_only": s["english_only"],
                     "max_context": s["max_context"]}
            if s["protocol"] != "default":  # default runs keep the ids of versions with one protocol
                ident["protocol"] = s["protocol"]
            parts = [model.label, Path(dataset).stem if "/" in dataset or "." in dataset else dataset]
            parts += [ablation] if ablation != BASELINE else []
            parts += [Path(prefix).stem] if prefix else []
            parts += [f"after-{Path(source).name}"] if source else []
            rid = "-".join(_slug(p) for p in parts) + "-" + _hash(ident)
            out = sweep_dir / RUNS_DIR / rid
            limit = s["limit"] or None
            cfg: RunConfig | RealDataConfig
            if s["kind"] == BAILBENCH:
                cfg = RunConfig(model=model.spec, dataset=dataset, methods=methods, ablation=ablation,
                                samples=s["samples"], limit=limit, max_tokens=s["max_tokens"],
                                temperature=s["temperature"], bail_prompt_mode=s["bail_prompt_mode"],
                                protocol=s["protocol"], seed=s["seed"], out=out, model_name=model.model_name, options=model.options,
                                refusal_classifier=s["refusal_classifier"],
                                false_bail_filter=s["false_bail_filter"], prefix=prefix,
                                rollouts_from=None)  # set below once the source run is known
                try:
                    n = datasets.prompts(dataset, limit)
                except UserError as exc:
                    raise UserError(f"model {model.label}: {exc}") from exc
                samples = n * s["samples"] * units_per_group(list(methods), ablation,
                                                             bool(s["refusal_classifier"]))
                estimated, prompts = False, n
            else:
                cfg = RealDataConfig(dataset=dataset, model=model.spec, methods=methods, limit=limit,
                                     fraction=s["fraction"], english_only=s["english_only"],
                                     max_tokens=s["max_tokens"], max_context=s["max_context"],
                                     temperature=s["temperature"], bail_prompt_mode=s["bail_prompt_mode"],
                                     protocol=s["protocol"],
                                     seed=s["seed"], cross_model=s["cross_model"],
                                     false_bail_filter=s["false_bail_filter"],
                                     refusal_classifier=s["refusal_classifier"], out=out,
                                     model_name=model.model_name, options=model.options)
                convs = limit or round(CONVERSATIONS.get(dataset, 0) * s["fraction"])
                per_turn = units_per_group(list(methods), BASELINE, False) + (
                    sum(m in PROMPT_METHODS for m in methods) if s["cross_model"] else 0)
                samples = round(convs * TURNS_PER_CONVERSATION.get(dataset, 3.0) * per_turn) or None
                estimated, prompts = True, None
            runs.append(PlannedRun(rid, model, s["kind"], cfg, dataset, ablation, prefix, source, None, samples,
                                   estimated, prompts))
    return _order(_link_sources(runs, sweep_dir))


def _simulate_run(exp: Experiment, model: Model, s: dict, ablation: str, sweep_dir: Path) -> PlannedRun:
    """A simulated-users run: its size is an estimate (a conversation may end early): every
    scenario x conversation x arm, each turn a user message, a reply and the check."""
    from ..simulate.scenario import load_scenarios

    ident = {"spec": model.spec, "options": asdict(model.options), "model_name": model.model_name, "kind": SIMULATE,
             "ablation": ablation, "temperature": s["temperature"], "max_tokens": s["max_tokens"], "seed": s["seed"],
             "mode": s["bail_prompt_mode"], "protocol": s["protocol"], **{k: s[k] for k in SIMULATE_KEYS}}
    parts = [model.label, "simulate", Path(s["scenarios"]).stem] + ([ablation] if ablation != BASELINE else [])
    rid = "-".join(_slug(p) for p in parts) + "-" + _hash(ident)
    try:
        cfg = SimulateConfig(model=model.spec, methods=tuple(s["methods"]), ablation=ablation,
                             max_tokens=s["max_tokens"], temperature=s["temperature"],
                             bail_prompt_mode=s["bail_prompt_mode"], protocol=s["protocol"], seed=s["seed"],
                             out=sweep_dir / RUNS_DIR / rid, model_name=model.model_name, options=model.options,
                             **{k: s[k] for k in SIMULATE_KEYS})
        scenarios = len(load_scenarios(cfg.scenarios).scenarios)
    except UserError as exc:
        raise UserError(f"model {model.label}: {exc}") from exc
    arms = len(cfg.methods) + int(cfg.paired)
    samples = scenarios * cfg.conversations * arms * cfg.turns * (2 + int(cfg.check is not None))
    return PlannedRun(rid, model, SIMULATE, cfg, f"simulate:{cfg.scenarios}", ablation, None, None, None, samples,
                      True, None)


def power_sizes(runs: list[PlannedRun]) -> dict[tuple[int, int], list[str]]:
    """(prompts, samples per prompt) of the BailBench runs -> "model on dataset" of that size.
    The power of a run depends on its size and the pilot alone, so one table serves every
    model of one size; ablations and prefixes of a model repeat its size. Real data are
    left out: their size is known only after the run."""
    sizes: dict[tuple[int, int], list[str]] = {}
    for r in runs:
        if r.prompts is not None and isinstance(r.config, RunConfig):
            names = sizes.setdefault((r.prompts, r.config.samples), [])
            name = f"{r.model.label} on {r.dataset}"
            if name not in names:
                names.append(name)
    return sizes


def _link_sources(runs: list[PlannedRun], sweep_dir: Path) -> list[PlannedRun]:
    """A run reading another model's rollouts gets that model's own-rollout run of the same
    dataset and prefix as its source (or the directory named)."""
    from dataclasses import replace

    for r in runs:
        if r.rollouts_from is None:
            continue
        src = next((s for s in runs if s.model.label == r.rollouts_from and s.rollouts_from is None
                    and s.dataset == r.dataset and s.prefix == r.prefix and s.kind == BAILBENCH), None)
        if src is None and any(m.label == r.rollouts_from for m in (s.model for s in runs)):
            raise UserError(f"run {r.id} reads the rollouts of {r.rollouts_from}, which has no run over "
                            f"{r.dataset} with prefix {r.prefix or 'none'} of its own; add one")
        assert isinstance(r.config, RunConfig), "only BailBench runs read another run's rollouts"
        if src is not None:
            r.depends_on = src.id
            r.config = replace(r.config, rollouts_from=src.config.out)
        else:
            r.config = replace(r.config, rollouts_from=Path(r.rollouts_from).expanduser().resolve())
    return runs


def _order(runs: list[PlannedRun]) -> list[PlannedRun]:
    first = [r for r in runs if r.depends_on is None]
    return first + [r for r in runs if r.depends_on is not None]
