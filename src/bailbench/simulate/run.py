"""`bailbench simulate`: simulated users talk to a model that can leave; when does it?

The target is set up as every run is (session.py: backend, methods, temperature, the run
directory bound to the run's identity); the user model is any model spec (the target's own
backend when it is the same spec). The scenarios are loaded, and every mistake in them is
reported, before any model is loaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

from ..backends.base import BackendLike
from ..backends.registry import load_backend
from ..errors import STEER_ON_RUN_ONLY, UserError
from ..execute import Reporter, temperature_for
from ..methods import BAIL_FIRST, OFFERED_METHODS, PROMPT_METHODS
from ..session import CommonConfig, RunResult, Session, Tally, measure, slug
from ..settings import at_least, between, one_of, setting
from .conversation import Plan, Player, Simulation
from .scenario import ALL, load_scenarios
from .summary import summarize
from .threads import NONE, Thread
from .user import VERSION

ARMS = OFFERED_METHODS  # the methods a live conversation can offer
CHECKS = PROMPT_METHODS
NO_CHECK = "none"


def _arms(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A comma list (the CLI's spelling) or a sequence of names."""
    names = value.split(",") if isinstance(value, str) else list(value)
    if not all(isinstance(n, str) for n in names):
        return tuple(names)  # the type check names what is wrong
    return tuple(dict.fromkeys(n.strip() for n in names if n.strip()))


def _live(arms: tuple[str, ...]) -> str | None:
    wrong = [m for m in arms if m not in ARMS]
    if wrong or not arms:
        return (f"is not a bail option offered live: use {' or '.join(ARMS)} (the bail prompt runs after every turn: "
                "--check)")
    return None


def _check(value: str | None) -> str | None:
    """One of the checks registered now (`one_of` would fix the list at import)."""
    return one_of(*CHECKS)(value)


@dataclass(frozen=True)
class SimulateConfig(CommonConfig):
    user: str | None = setting(None, "User model spec, as for --model [the target model plays the user too].")
    scenarios: str = setting(ALL, "all, a comma list of shipped scenario families, or a .toml/.jsonl scenario file.")
    turns: int = setting(5, "Assistant turns at most; conversations that reach them are censored.",
                         check=at_least(1, 1000))
    conversations: int = setting(3, "Conversations per scenario.", check=at_least(1, 10**6))
    methods: tuple[str, ...] = setting(ARMS, f"The bail options offered live, one arm each: {', '.join(ARMS)}.",
                                       convert=_arms, check=_live, cli_type=str, cli_default=",".join(ARMS))
    check: str | None = setting(BAIL_FIRST, "The bail prompt after every assistant turn, for P(bail): "
                                            f"{', '.join(CHECKS)} or none.",
                                convert=lambda v: None if v == NO_CHECK else v, check=_check)
    paired: bool = setting(True, "Also run every conversation with no bail option (the arm `none`).",
                           flag="--paired/--no-paired")
    user_max_tokens: int = setting(128, "Most new tokens per user message.", check=at_least(1, 10**7))
    user_temperature: float | None = setting(None, "The user model's sampling temperature [1.0].",
                                             check=between(0, 100, "a temperature"))
    retries: int = setting(2, "Further attempts at a user message that broke role.", check=at_least(0, 100))


class Simulated:
    """The source of `bailbench simulate`: every scenario's conversations in every arm,
    played turn by turn (conversation.py); the user model is any model spec."""

    counts_samples = False  # it advances by conversation turns

    def __init__(self, cfg: SimulateConfig, user_backend: BackendLike | None = None):
        if cfg.refusal_classifier or cfg.false_bail_filter:
            raise UserError("simulate classifies no refusals and filters no false bails; drop --refusal-classifier "
                            "and --false-bail-filter")
        if cfg.options.steer:
            raise UserError(STEER_ON_RUN_ONLY)
        self.cfg = cfg
        self.scenarios = load_scenarios(cfg.scenarios)
        self.name = f"simulate-{slug(self.scenarios.name)}"
        self.arms = list(dict.fromkeys(cfg.methods)) + ([NONE] if cfg.paired else [])
        self.user_spec = cfg.user or cfg.model
        self.user_backend = user_backend
        self._own_user = False

    def session(self, reporter: Reporter | None, backend: BackendLike | None) -> Session:
        """The target's session: the shared settings, and every method it runs (the arms and
        the check); and the user model (the target's own backend when it is the same spec)."""
        cfg = self.cfg
        common = {f.name: getattr(cfg, f.name) for f in fields(CommonConfig)}
        session = Session(CommonConfig(**{**common, "methods": cfg.methods + ((cfg.check,) if cfg.check else ())}),
                          reporter, backend)
        try:
            if self.user_backend is None:
                self._own_user = self.user_spec != cfg.model
                self.user_backend = load_backend(self.user_spec, cfg.options) if self._own_user else session.backend
            self.user_temperature = temperature_for(self.user_backend, cfg.user_temperature, self.user_spec)
        except BaseException:
            session.close()
            raise
        return session

    def identity(self, session: Session) -> dict:
        assert self.user_backend is not None
        return {"kind": "simulate", "user": {"model": self.user_spec, "backend": self.user_backend.identity(),
                                             "temperature": self.user_temperature,
                                             "max_tokens": self.cfg.user_max_tokens, "version": VERSION}}

    def measure(self, session: Session) -> Tally:
        cfg, reporter = self.cfg, session.reporter
        assert self.user_backend is not None
        threads = [Thread(s, k, a) for s in self.scenarios.scenarios for k in range(cfg.conversations)
                   for a in self.arms]
        reporter.start(len(threads) * cfg.turns, f"{cfg.model} with {self.user_spec} as the user, "
                                                 f"{self.scenarios.name} (conversation turns)")
        start = time.perf_counter()
        sim = Simulation(session, Player(self.user_backend, self.user_temperature, cfg.user_max_tokens),
                         Plan(threads, cfg.turns, cfg.retries, cfg.seed, cfg.ablation, cfg.check), reporter.advance)
        self.outcomes = sim.run()
        session.store.choose(sim.keys)
        self.seconds = time.perf_counter() - start
        return Tally(sim.new, len(sim.keys) - sim.new)

    def close(self) -> None:
        if self._own_user and self.user_backend is not None:
            self.user_backend.close()

    def summary(self, session: Session, tally: Tally) -> dict:
        cfg, s = self.cfg, session
        assert self.user_backend is not None
        head = s.summary_head(self.scenarios.name, cfg.conversations)
        if self._own_user:  # the user model's requests are in the usage too, at another model's price
            head["usage"] = {k: v for k, v in head["usage"].items() if k not in ("list_price_usd", "priced_as")}
        return {
            **head, "kind": "simulate", "user": self.user_spec, "user_model_id": self.user_backend.model_id,
            "families_run": self.scenarios.families, "n_prompts": len(self.scenarios.scenarios),
            "turns": cfg.turns, "conversations": cfg.conversations, "arms": self.arms, "check": cfg.check,
            "bail_prompt_mode": s.mode if cfg.check else None,
            "bail_prompt_reading": head["bail_prompt_reading"] if cfg.check else None,
            "user_temperature": self.user_temperature, "user_max_tokens": cfg.user_max_tokens, "retries": cfg.retries,
            **summarize(self.outcomes, cfg.turns, self.arms),
            "new_samples": tally.new, "reused_samples": tally.reused,
            "seconds": round(self.seconds, 2),
        }


def run_simulation(cfg: SimulateConfig, reporter: Reporter | None = None, backend: BackendLike | None = None,
                   user_backend: BackendLike | None = None) -> RunResult:
    """Run (or resume) simulated conversations; the library entry point."""
    return measure(Simulated(cfg, user_backend), reporter, backend)
