"""Real-conversation rates, computed in SQL over the run store so that memory does not
grow with the number of conversations: per method, the share of conversations with at
least one bail (Wilson 95%), the per-turn bail rate by turn index, the conversations with
the highest bail probability, and the rates with and without the false-bail filter."""

from __future__ import annotations

import sqlite3

from ..refusal import REFUSED_AT
from .stats import wilson
from .summary import _num

TOP = 10


def _rate(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {"rate": _num(k / n) if n else None, "ci_low": _num(lo), "ci_high": _num(hi), "n": n}


def refusal_sql(db: sqlite3.Connection, classifier: str, max_seq: int) -> dict:
    """Refusals of the model's own answers (the rollouts), as refusal_stats reports them for prompts."""
    n, refused, total, unreadable = db.execute(
        "SELECT count(r.p_refusal), coalesce(sum(r.p_refusal >= ?), 0), coalesce(sum(r.p_refusal), 0), "
        "coalesce(sum(r.key IS NOT NULL AND r.p_refusal IS NULL), 0) "
        "FROM samples s JOIN conversations c ON s.prompt_id = c.id "
        "LEFT JOIN refusals r ON r.key = s.key AND r.classifier = ? "
        "WHERE s.method = 'rollout' AND c.seq < ? AND s.skipped IS NULL",
        (REFUSED_AT, classifier, max_seq)).fetchone()
    out = _rate(refused, n)
    return {**out, "rate_label": f"share of answers refused (P(refusal) >= {REFUSED_AT})",
            "mean_p_refusal": _num(total / n) if n else None,
            "mean_p_refusal_label": "mean P(refusal) over answers (the paper's refusal rate)",
            "refused": refused, "unreadable": unreadable}


def method_stats(db: sqlite3.Connection, method: str, source: str, max_seq: int, judge: str | None,
                 refusals: str | None = None) -> dict:
    """Rates for one method over the conversations with seq < max_seq.

    `source` is OWN (the check after the model's own answer) or DATASET (after the
    dataset's assistant turn: the cross-model view)."""
    where = "s.method = ? AND c.seq < ? AND s.source = ?"
    base = f"FROM samples s JOIN conversations c ON s.prompt_id = c.id WHERE {where}"
    args = (method, max_seq, source)
    n, bails, unknown, skipped = db.execute(
        f"SELECT count(*) - count(s.skipped), coalesce(sum(s.verdict = 'bail'), 0), "
        f"coalesce(sum(s.verdict = 'unknown'), 0), count(s.skipped) {base}", args).fetchone()
    turns = _rate(bails, n)
    conv_n, conv_bail = db.execute(
        f"SELECT count(*), coalesce(sum(b), 0) FROM (SELECT max(s.verdict = 'bail') AS b {base} "
        f"AND s.skipped IS NULL GROUP BY s.prompt_id)", args).fetchone()
    per_turn = [{"turn": t, **_rate(k, m)} for t, m, k in db.execute(
        f"SELECT s.sample, count(*), sum(s.verdict = 'bail') {base} AND s.skipped IS NULL "
        f"GROUP BY s.sample ORDER BY s.sample", args)]
    top = [{"conversation": cid, "source_id": src, "turn": turn, "p_bail": _num(p)} for cid, src, turn, p in db.execute(
        f"SELECT s.prompt_id, c.source_id, s.sample, max(coalesce(s.p_bail, s.verdict = 'bail')) AS p {base} "
        f"AND s.skipped IS NULL GROUP BY s.prompt_id ORDER BY p DESC, s.prompt_id LIMIT {TOP}", args)]
    out = {"bail_rate": turns["rate"], "ci_low": turns["ci_low"], "ci_high": turns["ci_high"], "n": n,
           "unknown_rate": _num(unknown / n) if n else None, "skipped_turns": skipped,
           "conversations_with_bail": _rate(conv_bail, conv_n), "per_turn": per_turn, "top_conversations": top}
    if refusals:  # bails whose turn's own answer was not refused (one sample per turn: counted directly)
        k = db.execute(
            "SELECT coalesce(sum(s.verdict = 'bail' AND r.p_refusal < ?), 0) FROM samples s "
            "JOIN conversations c ON s.prompt_id = c.id "
            "LEFT JOIN samples o ON o.prompt_id = s.prompt_id AND o.sample = s.sample AND o.method = 'rollout' "
            "LEFT JOIN refusals r ON r.key = o.key AND r.classifier = ? "
            f"WHERE {where} AND s.skipped IS NULL", (REFUSED_AT, refusals, *args)).fetchone()[0]
        nr = _rate(k, n)
        out["no_refusal_bail_rate"] = nr["rate"]
        out["no_refusal_bail"] = {**nr, "estimate": "direct: the turn's own answer was not refused"}
    if judge:
        fb = (f"LEFT JOIN false_bails f ON f.key = s.key AND f.judge = ? WHERE {where} AND s.skipped IS NULL")
        real = "(s.verdict = 'bail' AND coalesce(f.false_bail, 0) = 0)"
        fargs = (judge, method, max_seq, source)
        k, false_n, unreadable = db.execute(
            f"SELECT coalesce(sum({real}), 0), coalesce(sum(f.false_bail), 0), "
            f"coalesce(sum(f.key IS NOT NULL AND f.false_bail IS NULL), 0) FROM samples s "
            f"JOIN conversations c ON s.prompt_id = c.id {fb}", fargs).fetchone()
        ck, cn = db.execute(
            f"SELECT coalesce(sum(b), 0), count(*) FROM (SELECT max({real}) AS b FROM samples s "
            f"JOIN conversations c ON s.prompt_id = c.id {fb} GROUP BY s.prompt_id)", fargs).fetchone()
        # bails whose verdict an unreadable judge answer decides stay bails, and are counted here
        out["false_bail_filter"] = {"judge": judge, "false_bails": false_n, "unreadable": unreadable,
                                    "false_bail_share_of_bails": _num(false_n / bails) if bails else None,
                                    "bail_rate_filtered": _rate(k, n),
                                    "conversations_with_bail_filtered": _rate(ck, cn)}
    return out
