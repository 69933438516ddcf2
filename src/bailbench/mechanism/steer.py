"""A steering sweep with its controls: does adding a direction move P(bail) more than adding
any direction of that size would, and without breaking the model?

The run's own contexts are held fixed (its stored checks, forced `<wellbeing>`, Baseline
wording) and rescored under each condition: the direction at its layer, random directions of
the same norm at that layer (several seeds), and the direction at another layer. The effect
of a condition is the mean change of P(bail) from the unsteered model over the same contexts
(paired), with a 95% interval that resamples subcategories. Guardrails, per condition: the
symbol mass p(🔄)+p(🟢) at the check (a model steered into nonsense stops answering with a
symbol at all) and the KL divergence of next-token distributions on neutral prompts (how far
the steering moves the model where bail is not in question). Each condition is read from the
unsteered pass's residual at its block (tail.py), so a condition costs the blocks after it;
alpha 0 is the unsteered model, read once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..chat.types import Chat, Message
from ..errors import UserError
from ..methods import BAIL_FIRST
from ..methods.prompt import p_bail
from ..methods.wordings import BASELINE, bail_symbol, continue_symbol, tag
from ..store import Store
from .directions import Direction, Steering, load_direction, random_like
from .tail import TailScorer

BOOTSTRAP = 1000
SHORTCUT = "the tail from the residual cached at the steered block (checked against the full pass)"
SLOW = "the full pass with the backend's steering hook (the shortcut did not reproduce it on this model)"


@dataclass(frozen=True)
class Effect:
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Condition:
    name: str  # direction | random:SEED | direction@LAYER
    layer: int
    alpha: float
    delta_p_bail: Effect  # against the unsteered model, paired over contexts
    excess: Effect | None  # against the random directions of the same alpha (direction rows only)
    # the random directions' own mean changes at this alpha, lowest and highest (direction rows
    # only): the excess's interval resamples contexts, not directions, so a direction stands
    # out only where its change also lies outside this range
    random_range: tuple[float, float] | None
    mass: float  # mean symbol mass at the check
    kl_neutral: float | None  # mean KL(unsteered || steered) of the next token on neutral prompts


@dataclass(frozen=True)
class Sweep:
    direction: str
    model_id: str
    contexts: int
    base_p_bail: float
    base_mass: float
    conditions: list[Condition]
    path: str  # how the steered checks were read (SHORTCUT or SLOW)


def _contexts(run_dir: Path, method: str, limit: int | None) -> tuple[list[str], np.ndarray]:
    """(the checks' rendered prefixes ending in the forced tag, their subcategories)."""
    store = Store(run_dir, create=False)
    try:
        rows = store.db.execute("SELECT rendered, subcategory FROM samples WHERE method=? AND ablation=? AND "
                                "skipped IS NULL AND rendered != '' ORDER BY prompt_id, sample",
                                (method, BASELINE)).fetchall()
    finally:
        store.close()
    opening = f"<{tag()}>"
    if limit and limit < len(rows):  # spread over the run's prompts (and so its categories), not its first ones
        rows = [rows[int(i)] for i in np.unique(np.linspace(0, len(rows) - 1, limit).round())]
    if not rows:
        raise UserError(f"{run_dir} holds no {method} checks to steer; run it with --methods {method}")
    return [r if r.endswith(opening) else r + opening for r, _ in rows], np.array([s for _, s in rows])


def _p_bail(logprobs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [p_bail(*row) for row in logprobs]
    return np.array([p for p, _ in pairs]), np.array([m for _, m in pairs])


def kl(base: np.ndarray, steered: np.ndarray) -> float:
    """Mean over rows of KL(base || steered), both log-probabilities."""
    p = np.exp(base)
    return float((p * (base - steered)).sum(-1).mean())


def _effect(diff: np.ndarray, groups: np.ndarray, seed: int) -> Effect:
    """Mean of per-context differences with a subcategory-bootstrap 95% interval."""
    names = np.unique(groups)
    members = [np.flatnonzero(groups == g) for g in names]
    rng = np.random.default_rng(seed)
    draws = [diff[np.concatenate([members[i] for i in rng.integers(0, len(names), len(names))])].mean()
             for _ in range(BOOTSTRAP)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return Effect(float(diff.mean()), float(low), float(high))


def sweep(backend, run_dir: Path, direction_file: Path, *, layer: int | None = None, alphas: Sequence[float],
          seeds: Sequence[int] = (0, 1, 2), control_layer: int | None = None, neutral: Sequence[str] = (),
          method: str = BAIL_FIRST, limit: int | None = None) -> Sweep:
    """Rescore a run's checks under the direction and its controls at each alpha (alpha 0:
    every condition is the unsteered model, read once)."""
    if not hasattr(backend, "score_rendered"):
        raise UserError(f"{backend.spec} cannot be steered: use the transformers backend (--model hf:NAME)")
    d = load_direction(direction_file)
    layer = d.layer if layer is None else layer
    n_layers = len(backend.blocks)
    other = control_layer if control_layer is not None else (layer + n_layers // 2) % n_layers
    texts, groups = _contexts(run_dir, method, limit)
    backend.set_steering(None)
    checks = TailScorer(backend, texts, [bail_symbol(), continue_symbol()], (layer, other))
    calm = TailScorer(backend, [backend.render(Chat(messages=(Message("user", q),))) for q in neutral], [],
                      (layer, other)) if neutral else None
    base_p, base_m = _p_bail(checks.base)
    randoms = [random_like(d, s) for s in seeds]
    plan: list[tuple[str, Direction, int]] = [("direction", d, layer), *((r.kind, r, layer) for r in randoms),
                                             (f"direction@{other}", d, other)]
    out: list[Condition] = []
    for alpha in alphas:
        read: dict[str, tuple[np.ndarray, np.ndarray, float | None]] = {}
        for name, vec, at in plan:
            steering = Steering(vec.vector, at, float(alpha), str(direction_file))
            p, m = _p_bail(checks.read(steering)[0])
            drift = kl(calm.base_next, calm.read(steering)[1]) if calm is not None else None
            read[name] = (p, m, drift)
        random_mean = np.mean([read[r.kind][0] for r in randoms], axis=0)
        shifts = [float(np.mean(read[r.kind][0] - base_p)) for r in randoms]
        for name, _, at in plan:
            p, m, drift = read[name]
            direction = not name.startswith("random")
            out.append(Condition(name, at, float(alpha), _effect(p - base_p, groups, 0),
                                 _effect(p - random_mean, groups, 1) if direction else None,
                                 (min(shifts), max(shifts)) if direction else None, float(np.nanmean(m)), drift))
    return Sweep(str(direction_file), d.model_id, len(texts), float(np.nanmean(base_p)), float(np.nanmean(base_m)),
                 out, SHORTCUT if checks.exact else SLOW)
