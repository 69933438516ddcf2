"""`bailbench realdata`: how often would a model bail on real traffic?

For every user turn of every conversation the model answers under each method, with the
dataset's own earlier assistant turns as the context; the bail prompt follows the
model's own answer (and, with `cross_model`, also the dataset's own next assistant
turn). Conversations are streamed and processed a few at a time, results go into the
same run store, and every rate is computed in SQL at the end, so memory stays flat
however many conversations there are. Rerunning the same command resumes.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, replace
from itertools import islice

from .analysis import rates
from .analysis.rates import Cell
from .backends.base import BackendLike
from .chat.types import Chat
from .datasets.conversations import Conversation, StreamStats, stream
from .datasets.records import Prompt
from .datasets.registry import conversation_choices, open_conversations
from .errors import STEER_ON_RUN_ONLY, UserError
from .execute import (
    Reporter,
    Unit,
)
from .keys import DATASET
from .methods import PROMPT_METHODS, ROLLOUT
from .session import CommonConfig, RunResult, Session, Tally, measure
from .settings import above, at_least, setting, zero_is_none
from .store import SampleRow

CONTEXT_OVER_LIMIT = "context_over_limit"
# The classifier reads each answered turn alone; the authors gave Minos the transcript so far.
REFUSAL_INPUT = "the user turn answered and the model's answer (the authors: the transcript so far)"


@dataclass(frozen=True)
class RealDataConfig(CommonConfig):
    dataset: str = setting("sharegpt", conversation_choices() + ".", axis="datasets")
    limit: int | None = setting(20, "Conversations to take (after filtering); 0 = all.", convert=zero_is_none,
                                check=at_least(0))
    fraction: float = setting(1.0, "A stable share of the dataset (the paper took 0.25 of WildChat).",
                              check=above(0, 1))
    english_only: bool = setting(True, "WildChat: keep only conversations whose every turn is tagged English.",
                                 flag="--english-only/--all-languages")
    max_context: int = setting(8000, "Turns whose context is longer (tokens) are skipped and counted.",
                               check=at_least(1, 10**8))
    cross_model: bool = setting(False, "Also put the bail prompt after the dataset's own assistant turn.",
                                flag="--cross-model")


class Conversations:
    """The source of `bailbench realdata`: every user turn of streamed conversations, with the
    dataset's own earlier turns, a few conversations per batch."""

    counts_samples = False  # it advances by conversations

    def __init__(self, cfg: RealDataConfig):
        if cfg.options.steer:
            raise UserError(STEER_ON_RUN_ONLY)
        self.cfg = cfg
        self.stats = StreamStats()
        source = open_conversations(cfg.dataset, cfg.english_only, self.stats)
        self.dataset_name, self.dataset_id, self.raw = source.name, source.ident, source.raw
        self.name = f"realdata-{self.dataset_name.split('.')[0]}"
        self.n_conversations = 0

    def session(self, reporter: Reporter | None, backend: BackendLike | None) -> Session:
        opts, cfg = self.cfg.options, self.cfg
        if opts.n_ctx < cfg.max_context + cfg.max_tokens + 512:
            # room for the longest context, the answer and the check after it
            opts = replace(opts, n_ctx=cfg.max_context + cfg.max_tokens + 512)
        return Session(cfg, reporter, backend, options=opts)

    def identity(self, session: Session) -> dict:
        cfg = self.cfg
        return {"kind": "realdata", "dataset": self.dataset_name, "dataset_id": self.dataset_id,
                "fraction": cfg.fraction, "english_only": cfg.english_only, "max_context": cfg.max_context}

    def close(self) -> None: ...

    # -- planning ---------------------------------------------------------------------

    def units(self, session: Session, conv: Conversation) -> list[Unit]:
        """Every user turn, with the dataset's earlier turns; the model's own answer is the
        rollout, and the dataset's own next reply the cross-model view's."""
        out = []
        for turn, j in enumerate(conv.user_turns()):
            ctx = Prompt(conv.id, conv.messages[: j + 1], category=self.dataset_name)
            nxt = conv.messages[j + 1] if j + 1 < len(conv.messages) else None
            theirs = nxt.content if self.cfg.cross_model and nxt is not None and nxt.role == "assistant" else None
            out += session.units_for(ctx, turn, theirs)
        return out

    def _over_limit(self, backend: BackendLike, units: list[Unit]) -> list[SampleRow]:
        """Turns whose context exceeds max_context tokens (estimated at 4 characters a token
        where the backend cannot count, as for API models), stored as skipped."""
        over: dict[tuple[str, int], bool] = {}
        for u in units:
            turn = (u.prompt.id, u.sample)
            if turn not in over:
                chat = Chat(u.prompt.messages)
                n = backend.count_tokens(chat)
                if n is None:
                    n = math.ceil(sum(len(m.content) for m in chat.messages) / 4)
                over[turn] = n > self.cfg.max_context
        return [self._skipped(u) for u in units if over[(u.prompt.id, u.sample)]]

    # -- execution --------------------------------------------------------------------

    def measure(self, session: Session) -> Tally:
        convs = stream(self.raw, self.stats, fraction=self.cfg.fraction)
        if self.cfg.limit is not None:
            convs = islice(convs, self.cfg.limit)
        session.reporter.start(self.cfg.limit, f"{self.cfg.model} on {self.dataset_name} (conversations)")
        store, backend = session.store, session.backend
        seq = new = reused = 0
        batch_size = max(1, backend.batch_size // 8) if backend.batch_size > 1 else 1
        while True:
            batch = list(islice(convs, batch_size))
            if not batch:
                break
            store.add_conversations([(seq + i, c.id, c.source_id, len(c.user_turns())) for i, c in enumerate(batch)])
            seq += len(batch)
            units = [u for c in batch for u in self.units(session, c)]
            fresh = session.process(units, skip=lambda pending: self._over_limit(backend, pending))
            new += fresh
            reused += len(units) - fresh
            session.reporter.advance(len(batch))
        store.choose_where("SELECT s.key FROM samples s JOIN conversations c ON s.prompt_id = c.id "
                           "WHERE c.seq < ? ORDER BY c.seq, s.sample, s.method, s.key", (seq,))
        self.n_conversations = seq
        return Tally(new, reused)

    @staticmethod
    def _skipped(u: Unit) -> SampleRow:
        return SampleRow(key=u.key, prompt_id=u.prompt.id, category=u.prompt.category, subcategory="",
                         method=u.method, ablation=u.ablation, mode=u.mode, sample=u.sample, seed=u.seed,
                         rendered="", reply="", verdict=None, p_bail=None, mass=None, prompt_tokens=0,
                         completion_tokens=0, finish_reason="", seconds=0.0, skipped=CONTEXT_OVER_LIMIT,
                         prompt=u.prompt.content, source=u.id.source)

    # -- output -----------------------------------------------------------------------

    def summary(self, session: Session, tally: Tally) -> dict:
        db, n_convs = session.store.db, self.n_conversations
        judge = self.cfg.false_bail_filter
        refusals = session.classifier.spec if session.classifier else None
        methods = {m: self._method(db, Cell(m, self.cfg.ablation), judge if m in PROMPT_METHODS else None, refusals)
                   for m in session.methods if m != ROLLOUT}
        turns = db.execute("SELECT coalesce(sum(turns), 0) FROM conversations WHERE seq < ?", (n_convs,)).fetchone()[0]
        summary = {
            **session.summary_head(self.dataset_name, 1), "kind": "realdata",
            "n_conversations": n_convs, "n_turns": turns, "n_prompts": turns,
            "fraction": self.cfg.fraction, "english_only": self.cfg.english_only, "max_context": self.cfg.max_context,
            "methods": methods,
            "conversations": self.stats.as_dict(),
            "new_samples": tally.new, "reused_samples": tally.reused,
        }
        if self.cfg.cross_model:
            summary["cross_model"] = {m: self._method(db, Cell(m, self.cfg.ablation, DATASET), judge)
                                      for m in session.methods if m in PROMPT_METHODS}
        if judge:
            summary["false_bail_filter"] = {"judge": judge, "applies_to": list(PROMPT_METHODS)}
        if session.classifier:
            summary["refusal"] = session.refusal_block(rates.refusal_stats(db, session.classifier.spec,
                                                                           nesting=rates.FLAT))
        return summary

    @staticmethod
    def _method(db: sqlite3.Connection, cell: Cell, judge: str | None, refusals: str | None = None) -> dict:
        """One method's rates: per turn, per conversation (with at least one bail), by turn
        index, the conversations most likely to bail; with the false-bail filter and
        no-refusal bails where asked."""
        out = rates.bail_rates(db, cell, scored="majority", nesting=rates.FLAT)
        out["skipped_turns"] = sum(out["skipped"].values())
        out["conversations_with_bail"] = rates.contexts_with_bail(db, cell)
        out["per_turn"] = [{"turn": t, "rate": st["bail_rate"], "ci_low": st["ci_low"], "ci_high": st["ci_high"],
                            "n": st["n"]} for t, st in rates.bail_rates(db, cell, "s.sample", scored="majority", nesting=rates.FLAT).items()
                           if st["n"]]
        out["top_conversations"] = rates.top_contexts(db, cell)
        if refusals:
            nr = rates.no_refusal_bail(db, cell, refusals, rates.TURN)
            out["no_refusal_bail_rate"] = nr["rate"]
            out["no_refusal_bail"] = nr
            out["conversations_no_refusal_bail"] = {**rates.conversations_no_refusal_bail(db, cell, refusals),
                                                    "refusal_input": REFUSAL_INPUT}
        if judge:
            out["false_bail_filter"] = {**rates.false_bail_stats(db, cell, judge, rates.FLAT),
                                        "conversations_with_bail_filtered": rates.contexts_with_bail(db, cell, judge)}
        return out


def run_realdata(cfg: RealDataConfig, reporter: Reporter | None = None, backend: BackendLike | None = None) -> RunResult:
    """Run (or resume) bail measurement on real conversations; the library entry point."""
    return measure(Conversations(cfg), reporter, backend)
