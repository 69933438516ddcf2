"""What a sweep will cost: samples left per run, over a throughput that was measured.

Where each model's samples/s (of one worker) comes from, in order:
1. this sweep directory: the new samples and wall time of its finished runs (sweep.json);
2. the experiment file: `throughput` of the model (a figure measured elsewhere, e.g. by
   benchmarks/gpu_vllm_ray.py);
3. the built-in figure for the embedded model, measured on this project's 2-core CPU;
4. `--throughput` on the command line, for every model still without a figure.
With none of these the cost of that model is unknown and said so.
GPU-hours count each worker's GPUs; the wall time spreads the GPU work over N GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .plan import PlannedRun

# samples/s of one worker, and where the figure was measured
REFERENCE = {
    "smollm2": (0.074, "measured here: local engine, max_tokens 16, 2-core CPU shared at load average 15 "
                       "(a quiet machine is faster)"),
}


@dataclass
class RunCost:
    id: str
    samples: int | None
    stored: int
    remaining: int | None
    throughput: float | None
    source: str
    gpus: float
    hours: float | None  # worker-hours left
    estimated: bool


@dataclass
class Estimate:
    runs: list[RunCost]
    gpus: int
    gpu_hours: float = 0.0
    cpu_hours: float = 0.0
    wall_hours: float = 0.0  # GPU work over `gpus` GPUs plus CPU/API work, one run after another
    unknown: list[str] = field(default_factory=list)  # model labels with no throughput figure
    sources: dict[str, str] = field(default_factory=dict)  # label -> where its figure comes from


def _measured(previous: dict) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for r in previous.get("runs", []):
        m = r.get("measured")
        if m and m.get("seconds"):
            s = sums.setdefault(r["label"], [0.0, 0.0])
            s[0] += m["new_samples"]
            s[1] += m["seconds"] * max(1, m.get("workers", 1))
    return {label: n / t for label, (n, t) in sums.items() if t > 0}


def throughput(run: PlannedRun, measured: dict[str, float], given: float | None = None) -> tuple[float | None, str]:
    m = run.model
    if m.label in measured:
        return measured[m.label], "measured in this sweep directory"
    if m.throughput:
        return m.throughput, "experiment file"
    if m.spec in REFERENCE:
        value, where = REFERENCE[m.spec]
        return value, where
    if given:
        return given, "--throughput (given, not measured)"
    return None, "unknown: run part of the sweep, set throughput in the file, or pass --throughput"


def estimate(runs: list[PlannedRun], stored: dict[str, int], previous: dict, gpus: int,
             given: float | None = None) -> Estimate:
    measured = _measured(previous)
    est = Estimate([], max(1, gpus))
    gpu_work = 0.0
    for r in runs:
        tp, source = throughput(r, measured, given)
        est.sources[r.model.label] = source
        have = stored.get(r.id, 0)
        remaining = None if r.samples is None else max(0, r.samples - have)
        hours = None if tp is None or remaining is None else remaining / tp / 3600 / r.model.workers
        est.runs.append(RunCost(r.id, r.samples, have, remaining, tp, source, r.model.gpus * r.model.workers, hours,
                                r.estimated))
        if hours is None:
            if r.model.label not in est.unknown and remaining:
                est.unknown.append(r.model.label)
            continue
        if r.model.gpus:
            gpu_work += hours * r.model.gpus * r.model.workers
        else:
            est.cpu_hours += hours * r.model.workers
            est.wall_hours += hours
    est.gpu_hours = gpu_work
    est.wall_hours += gpu_work / est.gpus
    return est
