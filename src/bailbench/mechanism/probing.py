"""`bailbench probe RUN`: per layer and site, probes to the run's P(bail) and verdicts, the
bail and refusal directions and their cosine, written to RUN/probe/.

Targets are each bail-prompt method's reading of a context: at the decision site the check's
own activation, at the reply end the rollout's (no bail prompt run at all), so the two sites
answer the paper's question side by side: can a cheap probe on the reply tell what the check
would say? Only the Baseline wording is probed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..methods import BAIL, CONTINUE, PROMPT_METHODS
from ..methods.wordings import BASELINE
from ..safe_io import make_dir, write_json
from ..store import Store
from .activations import FOLDER, Folder
from .directions import Direction, cosine
from .probe import Fit, mean_difference, probe
from .sites import DECISION, REPLY_END

OUT = "probe"


@dataclass(frozen=True)
class Row:
    site: str
    layer: int
    method: str
    target: str  # p_bail | verdict
    fit: Fit


@dataclass(frozen=True)
class LayerDirections:
    layer: int
    bail_norm: float | None
    refusal_norm: float | None
    cosine_reply_end: float | None  # bail vs refusal, both at the reply end
    cosine_decision: float | None  # bail at the decision site vs refusal at the reply end
    split: str  # how bail was told from continue: verdict, or P(bail) above its median


@dataclass(frozen=True)
class ProbeResult:
    rows: list[Row]
    directions: list[LayerDirections]
    refusal_classifier: str | None
    out: Path


def _labels(run_dir: Path) -> tuple[dict[str, tuple[float | None, str | None]], dict[str, float], str | None]:
    """(check key -> (p_bail, verdict), rollout key -> P(refusal), refusal classifier)."""
    store = Store(run_dir, create=False)
    try:
        q = (f"SELECT key, p_bail, verdict FROM samples WHERE method IN ({','.join('?' * len(PROMPT_METHODS))}) "
             "AND skipped IS NULL")
        checks = {k: (p, v) for k, p, v in store.db.execute(q, PROMPT_METHODS)}
        top = store.db.execute("SELECT classifier FROM refusals WHERE p_refusal IS NOT NULL GROUP BY classifier "
                               "ORDER BY count(*) DESC LIMIT 1").fetchone()
        refusals = {} if top is None else dict(store.db.execute(
            "SELECT key, p_refusal FROM refusals WHERE classifier=? AND p_refusal IS NOT NULL", (top[0],)))
    finally:
        store.close()
    return checks, refusals, top and top[0]


def _targets(entries: list[dict], checks: dict, method: str, ends: dict | None):
    """Rows (into the site's entries), P(bail) and verdicts of `method`'s checks; `ends`
    maps a context to its reply-end row, for the reply-end site."""
    rows, p, v, groups = [], [], [], []
    for i, e in enumerate(entries):
        if e["method"] != method or e["ablation"] != BASELINE:
            continue
        row = i if ends is None else ends.get((e["prompt_id"], e["sample"]))
        if row is None:
            continue
        prob, verdict = checks.get(e["key"], (None, None))
        rows.append(row)
        p.append(np.nan if prob is None else prob)
        v.append(1.0 if verdict == BAIL else 0.0 if verdict == CONTINUE else np.nan)
        groups.append(e["subcategory"])
    return np.array(rows, int), np.array(p), np.array(v), np.array(groups)


def _fits(x: np.ndarray, rows, p, v, groups) -> list[tuple[str, Fit | None]]:
    out = []
    for target, y, classify in (("p_bail", p, False), ("verdict", v, True)):
        ok = np.isfinite(y)
        out.append((target, probe(x[rows[ok]], y[ok], groups[ok], classify=classify) if ok.sum() >= 4 else None))
    return out


def _bail_direction(x: np.ndarray, rows, p, v) -> tuple[np.ndarray | None, str]:
    ok = np.isfinite(v)
    d = mean_difference(x[rows[ok]], v[ok] == 1)
    if d is not None:
        return d, "verdict"
    ok = np.isfinite(p)
    return mean_difference(x[rows[ok]], p[ok] > np.median(p[ok])) if ok.any() else None, "median p_bail"


def probe_run(run_dir: Path, *, out: Path | None = None) -> ProbeResult:
    folder = Folder(run_dir / FOLDER)
    meta = folder.meta()
    if meta is None:
        raise UserError(f"{run_dir} has no activations: run `bailbench activations {run_dir}` first")
    checks, refusals, classifier = _labels(run_dir)
    out = out or run_dir / OUT
    rows: list[Row] = []
    dirs: list[LayerDirections] = []
    for layer in meta["layers"]:
        dec_entries, dec = folder.layer(DECISION, layer)
        end_entries, end = folder.layer(REPLY_END, layer)
        ends = {(e["prompt_id"], e["sample"]): i for i, e in enumerate(end_entries)}
        pooled: list[tuple] = []
        for method in PROMPT_METHODS:
            for site, x, table in ((DECISION, dec, None), (REPLY_END, end, ends)):
                t = _targets(dec_entries, checks, method, table)
                if not len(t[0]):
                    continue
                rows += [Row(site, layer, method, target, fit) for target, fit in _fits(x, *t) if fit is not None]
                pooled.append((site, t))
        bail = {}
        split = "verdict"
        for site, x in ((DECISION, dec), (REPLY_END, end)):
            parts = [t for s, t in pooled if s == site]
            if parts:
                joined = [np.concatenate([part[k] for part in parts]) for k in range(3)]
                bail[site], split = _bail_direction(x, *joined)
        refused = np.array([refusals.get(e["key"], np.nan) for e in end_entries])
        ok = np.isfinite(refused)
        refusal = mean_difference(end[ok], refused[ok] >= 0.5) if ok.any() else None
        for kind, vec in (("bail", bail.get(DECISION)), ("bail-reply-end", bail.get(REPLY_END)), ("refusal", refusal)):
            if vec is not None:
                d = Direction(vec, layer, meta["model_id"], kind)
                d.save(out / f"{kind}-L{layer}.npz")
                d.save_control_vector(out / f"{kind}-L{layer}.gguf")

        def cos(a):
            return None if a is None or refusal is None else cosine(a, refusal)

        dirs.append(LayerDirections(layer, _norm(bail.get(DECISION)), _norm(refusal), cos(bail.get(REPLY_END)),
                                    cos(bail.get(DECISION)), split))
    result = ProbeResult(rows, dirs, classifier, out)
    write_json(make_dir(out) / "probe.json", _json(result), indent=2, allow_nan=False)
    return result


def _norm(v: np.ndarray | None) -> float | None:
    return None if v is None else float(np.linalg.norm(v))


def _clean(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _json(r: ProbeResult) -> dict:
    return {"refusal_classifier": r.refusal_classifier,
            "probes": [_clean({"site": x.site, "layer": x.layer, "method": x.method, "target": x.target,
                               **asdict(x.fit)}) for x in r.rows],
            "directions": [_clean(asdict(d)) for d in r.directions]}
