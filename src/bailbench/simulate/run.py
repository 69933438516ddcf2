"""`bailbench simulate`: simulated users talk to a model that can leave; when does it?

The target is set up as every run is (session.py: backend, methods, temperature, the run
directory bound to the run's identity); the user model is any model spec (the target's own
backend when it is the same spec). The scenarios are loaded, and every mistake in them is
reported, before any model is loaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..backends.base import BackendLike
from ..backends.registry import BackendOptions, load_backend
from ..errors import UserError
from ..execute import Reporter, sent_settings, temperature_for
from ..methods import BAIL_FIRST, CONTINUE_FIRST, STRING, TOOL
from ..session import CommonConfig, Session, slug
from ..store import write_summary
from .conversation import Outcome, Plan, Player, Simulation
from .scenario import ALL, load_scenarios
from .summary import summarize
from .threads import NONE, Thread
from .user import PROMPT_VERSION

ARMS = (TOOL, STRING)
CHECKS = (BAIL_FIRST, CONTINUE_FIRST)


@dataclass(frozen=True)
class SimulateConfig(CommonConfig):
    user: str | None = None  # the user model's spec; None: the target model plays the user too
    scenarios: str = ALL  # all, a comma list of shipped families, or a .toml/.jsonl file
    turns: int = 5  # assistant turns at most (conversations that get there are censored)
    conversations: int = 3  # per scenario
    methods: tuple[str, ...] = ARMS  # the bail options offered live, one arm each
    check: str | None = BAIL_FIRST  # the bail prompt after every assistant turn; None: no check
    paired: bool = True  # also run every conversation with no bail option (the `none` arm)
    user_max_tokens: int = 128
    user_temperature: float | None = None  # None: 1.0, as the target
    retries: int = 2  # further attempts at a user message that broke role


@dataclass
class SimulateResult:
    out: Path
    summary: dict


def check_config(cfg: SimulateConfig) -> None:
    for name, least in (("turns", 1), ("conversations", 1), ("retries", 0), ("user_max_tokens", 1)):
        if (value := getattr(cfg, name)) < least:
            raise UserError(f"--{name.replace('_', '-')} {value} must be at least {least}")
    wrong = [m for m in cfg.methods if m not in ARMS]
    if wrong or not cfg.methods:
        raise UserError(f"simulate offers the bail live with {' or '.join(ARMS)} (--methods), not "
                        f"{','.join(wrong) or 'nothing'}; the bail prompt runs after every turn (--check)")
    if cfg.check not in (*CHECKS, None):
        raise UserError(f"unknown --check {cfg.check!r}: choose {', '.join(CHECKS)} or none")


class SimulateRun:
    def __init__(self, cfg: SimulateConfig, reporter: Reporter | None = None, backend: BackendLike | None = None,
                 user_backend: BackendLike | None = None):
        check_config(cfg)
        self.cfg = cfg
        self.scenarios = load_scenarios(cfg.scenarios)
        self.arms = list(dict.fromkeys(cfg.methods)) + ([NONE] if cfg.paired else [])
        checked = cfg.methods + ((cfg.check,) if cfg.check else ())
        self.session = session = Session(replace(cfg, methods=checked), reporter, backend)
        self.user_spec = cfg.user or cfg.model
        self._own_user = user_backend is None and self.user_spec != cfg.model
        if user_backend is None:
            user_backend = load_backend(self.user_spec, cfg.options) if self._own_user else session.backend
        self.user_backend = user_backend
        self.user_temperature = temperature_for(user_backend, cfg.user_temperature, self.user_spec)
        session.open({"kind": "simulate", "user": {"model": self.user_spec, "backend": user_backend.identity(),
                                                   "temperature": self.user_temperature,
                                                   "max_tokens": cfg.user_max_tokens, "prompt": PROMPT_VERSION}},
                     f"simulate-{slug(self.scenarios.name)}", session.quiet)
        self.out, self.store = session.out, session.store

    def execute(self) -> SimulateResult:
        cfg, reporter = self.cfg, self.session.reporter
        threads = [Thread(s, k, a) for s in self.scenarios.scenarios for k in range(cfg.conversations)
                   for a in self.arms]
        reporter.start(len(threads) * cfg.turns, f"{cfg.model} with {self.user_spec} as the user, "
                                                 f"{self.scenarios.name} (conversation turns)")
        start = time.perf_counter()
        sim = Simulation(self.session, Player(self.user_backend, self.user_temperature, cfg.user_max_tokens),
                         Plan(threads, cfg.turns, cfg.retries, cfg.seed, cfg.ablation, cfg.check), reporter.advance)
        try:
            outcomes = sim.run()
            self.store.choose(sim.keys)
            summary = self._summary(outcomes, new=sim.new, reused=len(sim.keys) - sim.new,
                                    seconds=time.perf_counter() - start)
            write_summary(self.out, summary)
            self.store.write_csv(self.out / "samples.csv")
        finally:
            self.close()
        return SimulateResult(self.out, summary)

    def close(self) -> None:
        self.store.close()
        self.session.close()
        if self._own_user:
            self.user_backend.close()

    def _model_seconds(self) -> dict[str, float]:
        """Model time of the chosen rows per family, as stored (a resumed run counts the time its rows took)."""
        q = "SELECT category, sum(seconds) FROM samples JOIN temp.chosen USING (key) GROUP BY category"
        return {c: round(float(s or 0), 2) for c, s in self.store.db.execute(q)}

    def _summary(self, outcomes: list[Outcome], *, new: int, reused: int, seconds: float) -> dict:
        cfg, s = self.cfg, self.session
        return {
            "kind": "simulate", "model": cfg.model, "model_id": s.backend.model_id, "model_name": s.model_name,
            "user": self.user_spec, "user_model_id": self.user_backend.model_id,
            "dataset": self.scenarios.name, "families_run": self.scenarios.families,
            "n_prompts": len(self.scenarios.scenarios), "samples": cfg.conversations,
            "turns": cfg.turns, "conversations": cfg.conversations, "arms": self.arms, "check": cfg.check,
            "ablation": cfg.ablation, "bail_prompt_mode": s.mode if cfg.check else None,
            **sent_settings(s.backend, s.mode, s.temperature, s.protocol),
            "user_temperature": self.user_temperature, "max_tokens": cfg.max_tokens,
            "user_max_tokens": cfg.user_max_tokens, "retries": cfg.retries, "seed": cfg.seed,
            **summarize(outcomes, cfg.turns, self.arms),
            "new_samples": new, "reused_samples": reused,
            "seconds": {"wall": round(seconds, 2), "model_by_family": self._model_seconds()},
        }


def run_simulation(cfg: SimulateConfig, reporter: Reporter | None = None, backend: BackendLike | None = None,
                   user_backend: BackendLike | None = None) -> SimulateResult:
    """Run (or resume) simulated conversations; the library entry point."""
    return SimulateRun(cfg, reporter, backend, user_backend).execute()


def config(kwargs: dict[str, Any]) -> SimulateConfig:
    """Keyword arguments (the flags of `bailbench simulate` with underscores) -> the config."""
    own = {f.name for f in fields(SimulateConfig)} - {"options"}
    backend = {f.name for f in fields(BackendOptions)}
    unknown = set(kwargs) - own - backend
    if unknown:
        raise TypeError(f"unknown argument(s) {', '.join(sorted(unknown))}; choose from "
                        f"{', '.join(sorted(own | backend))}")
    cfg = {k: v for k, v in kwargs.items() if k in own}
    if isinstance(cfg.get("methods"), str):
        cfg["methods"] = tuple(m.strip() for m in cfg["methods"].split(",") if m.strip())
    if cfg.get("out") is not None:
        cfg["out"] = Path(cfg["out"])
    return SimulateConfig(**cfg, options=BackendOptions(**{k: v for k, v in kwargs.items() if k in backend}))
