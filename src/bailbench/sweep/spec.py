"""Read an experiment file (TOML) into checked settings; mistakes name their key and line.

    [experiment]   name, description, reproduces (paper figure files, for the index)
    [runs]         settings of every run; list-valued keys are sweep axes
    [[models]]     one model each: spec, backend options, GPU needs, per-model overrides

A run is one model x dataset x ablation x prefix x rollouts-from; methods, samples,
limits and the refusal classifier apply within it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path

from ..backends.registry import BackendOptions, backend_options, split_spec
from ..errors import UserError
from ..methods.wordings import BASELINE
from ..realdata import RealDataConfig
from ..runner import FULL, RunConfig
from ..safe_io import parse_toml, read_bytes
from ..settings import SettingError, check_value, declared, is_float, is_list
from ..simulate.run import SimulateConfig

BAILBENCH, REALDATA, SIMULATE = "bailbench", "realdata", "simulate"
KINDS: dict[str, type] = {BAILBENCH: RunConfig, REALDATA: RealDataConfig, SIMULATE: SimulateConfig}
OWN, NO_PREFIX = "own", "none"

# key -> (type check, what to write); lists also accept a single value
_LIST = "list"


def _run_keys() -> dict[str, tuple]:
    """The [runs] keys: `kind`, then every declared run setting a file may set (settings.py),
    under its axis name where it is swept over (dataset -> datasets); each value is checked
    by its declaration."""
    keys: dict[str, tuple] = {"kind": (str, " or ".join(KINDS))}
    for cls in KINDS.values():
        for name, (_, spec) in declared(cls).items():
            if spec.in_files and (spec.axis or name) not in keys:
                keys[spec.axis or name] = (cls, name)
    return keys


RUN_KEYS = _run_keys()


def _accepted(kind: str) -> set[str]:
    """The [runs] keys a kind of run takes: its config's settings (by their file names)."""
    keys = {"kind"} | {spec.axis or n for n, (_, spec) in declared(KINDS[kind]).items() if spec.in_files}
    if kind == REALDATA:  # real conversations run the Baseline wording; `samples` was always let pass
        keys = (keys - {"ablations"}) | {"samples"}
    return keys


ACCEPTED = {kind: _accepted(kind) for kind in KINDS}
MODEL_KEYS = {
    "spec": (str, "a model spec such as smollm2, vllm:Qwen/Qwen2.5-7B-Instruct or openai:gpt-4o"),
    "label": (str, "a short name for the model's runs"),
    "model_name": (str, "the name the model knows itself by"),
    "gpus": (float, "GPUs per worker (default: tensor_parallel for vllm, else 0)"),
    "cpus": (float, "CPUs per worker (default 1)"),
    "workers": (int, "Ray workers holding this model (default 1)"),
    "tensor_parallel": (BackendOptions, "tensor_parallel"),
    "throughput": (float, "samples/s of one worker, measured, for --plan"),
    "options": (dict, "a table of backend options"),
}
OPTIONS = backend_options()  # every registered backend's options, another package's too
OPTION_KEYS = {name: (OPTIONS, name) for name in declared(OPTIONS)}
# (lowest, highest) of the sweep's own numbers; run settings carry their checks in their declarations
RANGES = {"gpus": (0.0, 1024.0), "cpus": (0.0, 4096.0), "workers": (1, 10_000), "throughput": (1e-9, 1e9)}
EXPERIMENT_KEYS = {"name": (str, "a name"), "description": (str, "text"), "reproduces": (_LIST, "paper figure files")}
TOP_KEYS = {"experiment", "runs", "models"}

# an experiment file runs the paper's sizes (every prompt, 10 samples, 2000 tokens) unless it says otherwise
DEFAULTS = {"kind": BAILBENCH, "datasets": ["bailbench"], "methods": ["all"], "ablations": [BASELINE],
            "prefixes": [NO_PREFIX], "rollouts_from": [OWN],
            **{name: f.default for cls in (RealDataConfig, RunConfig) for name, (f, spec) in declared(cls).items()
               if spec.in_files and not spec.axis and name != "methods"},
            "samples": FULL["samples"], "limit": 0, "max_tokens": FULL["max_tokens"]}
# a kind's own defaults where they differ: simulated users offer the live options, not `all`
KIND_DEFAULTS = {SIMULATE: {"methods": list(SimulateConfig().methods),
                            **{n: f.default for n, (f, spec) in declared(SimulateConfig).items()
                               if spec.in_files and not spec.axis and n not in DEFAULTS and n != "methods"}}}


@dataclass(frozen=True)
class Model:
    spec: str
    label: str
    model_name: str | None
    gpus: float
    cpus: float
    workers: int
    throughput: float | None
    options: BackendOptions
    overrides: dict = field(default_factory=dict)  # [runs] keys set for this model only


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    reproduces: tuple[str, ...]
    runs: dict  # [runs] with defaults filled in
    models: tuple[Model, ...]
    path: Path
    sha256: str

    def settings(self, model: Model) -> dict:
        return {**self.runs, **model.overrides}


class _Lines:
    """Where a key is written: the line of `key =` inside its table (or inline table)."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.sections: list[tuple[str, int]] = []  # (header name, line index)
        for i, line in enumerate(self.lines):
            m = re.match(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?", line)
            if m and not re.match(r"\s*\w[\w\-]*\s*=", line):
                self.sections.append((m.group(1).strip().strip('"'), i))

    def _span(self, section: str, index: int) -> tuple[int, int]:
        if not section:
            return 0, self.sections[0][1] if self.sections else len(self.lines)
        hits = [j for j, (name, _) in enumerate(self.sections) if name == section]
        if not hits:
            return 0, len(self.lines)
        j = hits[min(index, len(hits) - 1)]
        end = self.sections[j + 1][1] if j + 1 < len(self.sections) else len(self.lines)
        return self.sections[j][1], end

    def of_key(self, section: str, key: str, index: int = 0) -> int:
        start, end = self._span(section, index)
        pattern = re.compile(rf"(^|[\s{{,]){re.escape(key)}\s*=|^\s*\"{re.escape(key)}\"\s*=")
        for i in range(start, end):
            if pattern.search(self.lines[i].split("#")[0]):
                return i + 1
        return self.of_section(key) or start + 1

    def of_section(self, name: str) -> int | None:
        return next((i + 1 for n, i in self.sections if n == name or n.startswith(name + ".")), None)


class _Checker:
    def __init__(self, path: Path, text: str):
        self.path = path
        self.where = _Lines(text)

    def fail(self, line: int, message: str) -> None:
        raise UserError(f"{self.path}:{line}: {message}")

    def keys(self, table: dict, known: dict | set, section: str, index: int = 0, label: str = "") -> None:
        for key in table:
            if key not in known:
                line = self.where.of_key(section, key, index)
                self.fail(line, f"unknown key {key!r} in {label or '[' + section + ']'}; known keys: "
                                f"{', '.join(sorted(known))}")

    def value(self, table: dict, key: str, kind, what: str, section: str, index: int = 0):
        v = table[key]
        line = self.where.of_key(section, key, index)
        if isinstance(kind, type) and is_dataclass(kind) and what in declared(kind):
            return self.setting(kind, what, v, line)
        if kind == _LIST:
            v = v if isinstance(v, list) else [v]
            if not v or not all(isinstance(x, str) and x for x in v):
                self.fail(line, f"{key} must be {what}")
            return [str(x) for x in v]
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if kind is int and isinstance(v, bool) or not isinstance(v, kind):
            self.fail(line, f"{key} must be {what}, not {str(v)[:40]!r}")
        low, high = RANGES.get(key, (None, None))
        if low is not None and not ((not isinstance(v, float) or math.isfinite(v)) and low <= v <= high):
            self.fail(line, f"{key} = {str(v)[:40]} is outside {low} to {high}; {key} must be {what}")
        return v


    def setting(self, cls: type, name: str, v, line: int):
        """A declared setting: a list where it is swept over (or is a list), each value checked
        as the CLI checks it."""
        _, spec = declared(cls)[name]
        if spec.axis or is_list(cls, name):
            v = v if isinstance(v, list) else [v]
            if not v or not all(isinstance(x, str) and x for x in v):
                self.fail(line, f"{spec.axis or name} must be a list of names, not {str(v)[:40]!r}")
            v = [str(x) for x in v]
        elif is_float(cls, name) and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)  # a file's `temperature = 1` is 1.0, as on the command line
        try:
            if not spec.axis:
                check_value(cls, name, tuple(v) if isinstance(v, list) else v)
        except SettingError as exc:
            self.fail(line, exc.in_file())
        except UserError as exc:
            self.fail(line, str(exc))
        return v


def _run_settings(c: _Checker, table: dict, section: str, index: int = 0, label: str = "",
                  kind: str = BAILBENCH) -> dict:
    """[runs] (or a model's overrides), each value checked by the declaration of its run kind."""
    c.keys(table, RUN_KEYS, section, index, label)
    if "kind" in table:
        kind = table["kind"]
        if kind not in KINDS:
            c.fail(c.where.of_key(section, "kind", index), f"kind must be {' or '.join(KINDS)}, not {str(kind)[:40]!r}")
    out = {}
    for key in table:
        if key not in ACCEPTED[kind]:
            takers = " or ".join(k for k in KINDS if key in ACCEPTED[k])
            c.fail(c.where.of_key(section, key, index), f"{key} applies only to kind = {takers} runs")
        cls, what = RUN_KEYS[key]
        if what in declared(KINDS[kind]):
            cls = KINDS[kind]
        out[key] = c.value(table, key, cls, what, section, index)
    return out


def _model(c: _Checker, table: dict, index: int, runs_keys: set, kind: str) -> Model:
    label = f"[[models]] number {index + 1}"
    c.keys(table, set(MODEL_KEYS) | runs_keys, "models", index, label)
    if "spec" not in table:
        c.fail(c.where._span("models", index)[0] + 1, f"{label} has no spec (e.g. spec = \"smollm2\")")
    vals = {k: c.value(table, k, *MODEL_KEYS[k], "models", index) for k in table if k in MODEL_KEYS}
    spec = vals["spec"]
    try:
        provider, _ = split_spec(spec) if spec != "smollm2" else ("gguf", "")
    except UserError as exc:
        c.fail(c.where.of_key("models", "spec", index), str(exc))
    opts = vals.get("options", {})
    c.keys(opts, OPTION_KEYS, "models", index, f"options of {label}")
    opts = {k: c.value(opts, k, *OPTION_KEYS[k], "models", index) for k in opts}
    tp = vals.get("tensor_parallel", 1)
    try:
        # an option of another package's backend makes them the union's; bailbench's own alone keep
        # the plain class, so a sweep's run ids (which hold every option) do not change with what else is installed
        cls = BackendOptions if set(opts) <= set(declared(BackendOptions)) else OPTIONS
        options = cls(**{**opts, "tensor_parallel": tp})
    except TypeError as exc:
        c.fail(c.where.of_key("models", "options", index), f"bad backend options: {exc}")
    overrides = _run_settings(c, {k: v for k, v in table.items() if k in RUN_KEYS}, "models", index, label, kind)
    default_gpus = float(tp) if provider == "vllm" else 0.0
    return Model(spec=spec, label=vals.get("label") or _label(spec), model_name=vals.get("model_name"),
                 gpus=vals.get("gpus", default_gpus), cpus=vals.get("cpus", 1.0), workers=max(1, vals.get("workers", 1)),
                 throughput=vals.get("throughput"), options=options, overrides=overrides)


def _label(spec: str) -> str:
    name = spec.split(":", 1)[-1].rstrip("/")
    name = name.rsplit("/", 1)[-1]
    return re.sub(r"\.gguf$", "", name)


def load_experiment(path: Path) -> Experiment:
    """Parse and check an experiment file."""
    import hashlib

    if not path.is_file():
        raise UserError(f"experiment file {path} not found")
    raw = read_bytes(path, "an experiment file", limit=2**20)
    text = raw.decode("utf-8", errors="replace")
    data = parse_toml(text, str(path))
    c = _Checker(path, text)
    for key in data:
        if key not in TOP_KEYS:
            line = c.where.of_section(key) or c.where.of_key("", key)
            c.fail(line, f"unknown key {key!r}; an experiment file has [experiment], [runs] and [[models]]")
    exp = data.get("experiment", {})
    if not isinstance(exp, dict):
        c.fail(c.where.of_key("", "experiment"), "experiment must be a table: [experiment]")
    c.keys(exp, EXPERIMENT_KEYS, "experiment")
    meta = {k: c.value(exp, k, *EXPERIMENT_KEYS[k], "experiment") for k in exp}
    runs_table = data.get("runs", {})
    if not isinstance(runs_table, dict):
        c.fail(c.where.of_key("", "runs"), "runs must be a table: [runs]")
    given = _run_settings(c, runs_table, "runs")
    kind = given.get("kind", BAILBENCH)
    runs = {**DEFAULTS, **KIND_DEFAULTS.get(kind, {}), **given}
    models_table = data.get("models", [])
    if not isinstance(models_table, list) or not models_table:
        c.fail(c.where.of_section("models") or 1, "no models: add at least one [[models]] table with a spec")
    models = tuple(_model(c, m, i, set(RUN_KEYS), kind) for i, m in enumerate(models_table))
    labels = [m.label for m in models]
    for i, lab in enumerate(labels):
        if labels.index(lab) != i:
            c.fail(c.where.of_key("models", "spec", i), f"two models share the label {lab!r}; give one a label")
    for i, m in enumerate(models):
        for src in m.overrides.get("rollouts_from", []) + (runs["rollouts_from"] if i == 0 else []):
            if src != OWN and src not in labels and not Path(src).expanduser().exists():
                sec, idx = ("models", i) if src in m.overrides.get("rollouts_from", []) else ("runs", 0)
                c.fail(c.where.of_key(sec, "rollouts_from", idx),
                       f"rollouts_from {src!r} is neither a model label of this file ({', '.join(labels)}) "
                       "nor a run directory")
    return Experiment(name=meta.get("name") or path.stem, description=meta.get("description", ""),
                      reproduces=tuple(meta.get("reproduces", [])), runs=runs, models=models, path=path.resolve(),
                      sha256=hashlib.sha256(raw).hexdigest())
