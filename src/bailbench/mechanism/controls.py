"""Every steering run runs its controls: a run with `--steer FILE:LAYER:ALPHA` is run again
unsteered, with random directions of the same norm at the same layer (one per seed), and with
the same direction at another layer (half the depth away), each a run of its own under
RUN/controls/. What it reports, in the summary's `steering` block: every method's bail rate and
the refusal rate under each condition, the steered run minus each control (paired over the
prompts both ran, clustered as the rates are, Holm-corrected over the methods), and the
guardrails, the symbol mass at the check and the KL divergence of next-token distributions on
neutral prompts (so a model steered into incoherence is not read as one that changed its mind).

A steered number is never reported without its controls: they share the run's settings, its
prompts and its seeds, and only the steering differs. The backend is loaded once and
re-steered between runs (the transformers hook swaps in place); the KL guardrail reads every
condition from one unsteered pass (tail.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..analysis import intervals
from ..analysis.compare import load_run, paired_runs
from ..analysis.rates import num
from ..backends.registry import load_backend
from ..chat.types import Chat, Message
from ..datasets.registry import load_dataset
from ..errors import UserError
from ..methods import PROMPT_METHODS
from ..store import Store, read_summary, write_summary
from .directions import Steering, load_direction, parse_steer, random_like, split_steer
from .steer import kl
from .tail import TailScorer

SEEDS = (0, 1, 2)
NEUTRAL = 16  # neutral prompts for the KL guardrail
STEERED = "steered"
UNSTEERED = "unsteered"
RANDOM = "random:"  # + the seed: a random direction of the same norm


@dataclass(frozen=True)
class Condition:
    name: str  # steered | unsteered | random:SEED | layer:LAYER
    steer: str | None  # its --steer text (None: unsteered)


def conditions(steer: str, n_layers: int, folder: Path, seeds=SEEDS) -> list[Condition]:
    """The steered run and its controls; the random directions are written to `folder` (seeded,
    so a rerun writes the same vectors and resumes the same runs)."""
    path, layer, alpha = split_steer(steer)
    if not 0 <= layer < n_layers:
        raise UserError(f"--steer layer {layer} is out of range: the model has layers 0 to {n_layers - 1}")
    d = load_direction(path)
    out = [Condition(STEERED, steer), Condition(UNSTEERED, None)]
    for s in seeds:
        f = random_like(d, s).save(folder / f"random-{s}.npz")
        out.append(Condition(f"{RANDOM}{s}", f"{f}:{layer}:{alpha:g}"))
    other = (layer + n_layers // 2) % n_layers
    return out + [Condition(f"layer:{other}", f"{path}:{other}:{alpha:g}")]


class _Labelled:
    """The run's progress, each control named."""

    def __init__(self, reporter, label: str):
        self.reporter, self.label = reporter, label

    def start(self, total: int | None, description: str) -> None:
        if self.reporter is not None:
            self.reporter.start(total, f"{self.label}: {description}")

    def advance(self, n: int) -> None:
        if self.reporter is not None:
            self.reporter.advance(n)

    def note(self, message: str) -> None:
        if self.reporter is not None:
            self.reporter.note(message)


def run_with_controls(cfg: Any, run_once: Callable[[Any, Any, Any], Any], reporter, backend) -> Any:
    """`run_once(cfg, reporter, backend)` for the steered run, then for each control (into
    RUN/controls/NAME), then the comparison, written into the steered run's summary.json."""
    own = backend is None
    backend = backend or load_backend(cfg.model, cfg.options)
    if not hasattr(backend, "set_steering"):
        raise UserError(f"{cfg.model} cannot be steered: use the transformers backend (--model hf:NAME)")
    main = parse_steer(cfg.options.steer)
    try:
        backend.set_steering(main)
        result = run_once(cfg, reporter, backend)
        folder = result.out / "controls"
        plan = conditions(cfg.options.steer, len(backend.blocks), folder)
        dirs = {STEERED: result.out}
        for c in plan[1:]:
            dirs[c.name] = folder / c.name.replace(":", "-")
            backend.set_steering(parse_steer(c.steer) if c.steer else None)
            run_once(replace(cfg, out=dirs[c.name], options=replace(cfg.options, steer=c.steer)),
                     _Labelled(reporter, f"control {c.name}"), backend)
        drift = _kl_neutral(backend, plan, cfg.data_dir)
    finally:
        if own:
            backend.close()
        else:
            backend.set_steering(main)  # a lent backend goes back as it came
    block = steering_block(main, plan, dirs, drift)
    summary = {**read_summary(result.out), "steering": block}
    write_summary(result.out, summary)
    return replace(result, summary=summary)


def _kl_neutral(backend, plan: list[Condition], data_dir: str | None) -> dict[str, float | None]:
    """Per condition, the mean KL(unsteered || condition) of the next token after each neutral prompt."""
    if not hasattr(backend, "next_token_logprobs"):
        return {c.name: None for c in plan}
    backend.set_steering(None)
    texts = [backend.render(Chat(messages=(Message("user", p.content),)))
             for p in load_dataset("neutral", data_dir).prompts[:NEUTRAL]]
    steerings = {c.name: parse_steer(c.steer) if c.steer else None for c in plan}
    calm = TailScorer(backend, texts, [], [s.layer for s in steerings.values() if s is not None])
    return {name: kl(calm.base_next, calm.read(s)[1]) for name, s in steerings.items()}


def steering_block(main: Steering, plan: list[Condition], dirs: dict[str, Path],
                   kl_neutral: dict[str, float | None]) -> dict:
    runs = {name: load_run(path) for name, path in dirs.items()}
    for name, r in runs.items():
        r.label = name
    methods = [m for m in runs[STEERED].summary["methods"]]
    classifier = (runs[STEERED].summary.get("refusal") or {}).get("classifier")
    per = {}
    for c in plan:
        s = runs[c.name].summary
        per[c.name] = {
            "steer": c.steer, "run": str(dirs[c.name]),
            "methods": {m: {k: s["methods"][m].get(k) for k in ("bail_rate", "ci_low", "ci_high", "n", "estimand")}
                        for m in methods},
            "refusal_rate": (s.get("refusal") or {}).get("mean_p_refusal"),
            "symbol_mass": {m: _mass(dirs[c.name], m, s) for m in methods if m in PROMPT_METHODS},
            "kl_neutral": kl_neutral.get(c.name),
        }
    effects = []
    for c in plan[1:]:
        diff = paired_runs([runs[c.name], runs[STEERED]], methods)[0]
        effects.append({"condition": STEERED, "minus": c.name, "methods": diff["methods"],
                        "refusal": _refusal_difference(dirs[STEERED], dirs[c.name], classifier,
                                                       runs[STEERED].summary["samples"])})
    for c in plan[2:]:  # how far any direction of this size moves the model: the controls' own effect
        diff = paired_runs([runs[UNSTEERED], runs[c.name]], methods)[0]
        effects.append({"condition": c.name, "minus": UNSTEERED, "methods": diff["methods"],
                        "refusal": _refusal_difference(dirs[c.name], dirs[UNSTEERED], classifier,
                                                       runs[STEERED].summary["samples"])})
    return {
        "steer": main.identity(), "conditions": per, "effects": effects,
        "estimand": "each method's bail_rate (as in `methods`) and the mean P(refusal) over rollouts, condition "
                    "minus control, paired over the prompts both ran",
        "interval": "95% paired, clustered by prompt within subcategory (as the rates); p-values Holm-corrected over "
                    "the methods",
        "guardrails": {"symbol_mass": "mean p(🔄)+p(🟢) at the check (logprob mode): near 0, the model no longer "
                                      "answers the check with a symbol",
                       "kl_neutral": f"mean KL(unsteered || condition) of the next token after {NEUTRAL} neutral "
                                     "prompts: how far the steering moves the model where bail is not in question"},
    }


def _mass(run_dir: Path, method: str, summary: dict) -> float | None:
    store = Store(run_dir, create=False)
    try:
        (mass,) = store.db.execute("SELECT avg(mass) FROM samples WHERE method = ? AND sample < ? AND mode = ? "
                                   "AND skipped IS NULL", (method, summary["samples"],
                                                           summary.get("bail_prompt_mode") or "")).fetchone()
    finally:
        store.close()
    return num(mass)


def _refusal_units(run_dir: Path, classifier: str, samples: int) -> dict[str, tuple[str, str, int, float]]:
    store = Store(run_dir, create=False)
    try:
        rows = store.db.execute(
            "SELECT s.prompt_id, s.category, s.subcategory, count(*), sum(r.p_refusal) FROM samples s JOIN refusals r "
            "ON r.key = s.key AND r.classifier = ? WHERE s.method = 'rollout' AND s.sample < ? AND s.skipped IS NULL "
            "AND r.p_refusal IS NOT NULL GROUP BY s.prompt_id", (classifier, samples)).fetchall()
    finally:
        store.close()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def _refusal_difference(a: Path, b: Path, classifier: str | None, samples: int) -> dict | None:
    """Mean P(refusal) of run a minus run b, paired over prompts, clustered by subcategory."""
    if classifier is None:
        return None
    ua, ub = _refusal_units(a, classifier, samples), _refusal_units(b, classifier, samples)
    ids = sorted(set(ua) | set(ub))
    if not ids:
        return None
    label = {i: (ua.get(i) or ub[i])[:2] for i in ids}

    def col(u: dict, j: int) -> np.ndarray:
        return np.array([u[i][j] if i in u else 0.0 for i in ids], float)

    d = intervals.paired_difference(col(ua, 3), col(ua, 2), col(ub, 3), col(ub, 2),
                                    groups=np.array([label[i][1] for i in ids]),
                                    strata=np.array([label[i][0] for i in ids]))
    return {"difference": num(d.estimate), "ci_low": num(d.ci_low), "ci_high": num(d.ci_high),
            "p_value": num(d.p_value), "interval": d.interval, "classifier": classifier}

