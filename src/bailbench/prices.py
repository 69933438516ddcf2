"""What a run costs on an API: a price table shipped in the package (prices.toml: list
prices, dated, with their sources) that a user's TOML of the same shape overrides, and the
price of a run's tokens at real-time and batch prices, with and without prompt caching.
`--plan` prices token estimates; after a run, the same function prices the usage the API
returned."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from .errors import UserError
from .safe_io import parse_toml, read_bytes

PER = 1_000_000  # prices are per million tokens


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens of one model."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    batch: float  # multiplier on every token kind in the batch APIs


@dataclass(frozen=True)
class Tokens:
    """A run's tokens: `cached` of the input served from the prompt cache, `written` written to it."""

    input: int
    output: int
    cached: int = 0
    written: int = 0


@dataclass(frozen=True)
class Cost:
    """Dollars for one model's tokens in each way of sending them."""

    model: str
    realtime: float
    batch: float
    realtime_cached: float
    batch_cached: float


@dataclass(frozen=True)
class PriceTable:
    prices: dict[str, Price]
    source: str  # where the table came from (the package's file, and any override)

    def find(self, model: str) -> Price | None:
        """The price of a model id (`provider:` allowed): the longest name that is the id or its
        start before a "-" (claude-3-5-haiku-20241022 -> claude-3-5-haiku)."""
        model = model.split(":", 1)[-1]
        names = [n for n in self.prices if model == n or model.startswith(n + "-")]
        return self.prices[max(names, key=len)] if names else None


def load_prices(override: Path | None = None) -> PriceTable:
    """The shipped table, with the models of `override` (a TOML file) added or replaced field by field."""
    source = "bailbench/prices.toml"
    shipped = parse_toml(files("bailbench").joinpath("prices.toml").read_text("utf-8"), source)
    if override is not None:
        raw = read_bytes(Path(override), "price file", limit=2**20)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"price file {override} is not UTF-8 text; fix it or leave it out") from None
        user = parse_toml(text, f"price file {override}")
        shipped["defaults"] = shipped.get("defaults", {}) | user.get("defaults", {})
        for name, entry in (user.get("models") or {}).items():
            shipped["models"][name] = shipped["models"].get(name, {}) | entry
        source += f" + {override}"
    return PriceTable({name: _price(name, e, shipped.get("defaults", {}), source)
                       for name, e in shipped["models"].items()}, source)


def _price(name: str, entry: dict, defaults: dict, source: str) -> Price:
    e = defaults | entry
    try:
        inp, out = float(e["input"]), float(e["output"])
        p = Price(input=inp, output=out, cache_read=float(e.get("cache_read", inp)),
                  cache_write=float(e.get("cache_write", inp)), batch=float(e.get("batch", 1.0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{source}: model {name!r} needs numbers for input and output (dollars per million "
                        f"tokens; optional cache_read, cache_write, batch): {exc!r}") from None
    if min(p.input, p.output, p.cache_read, p.cache_write, p.batch) < 0:
        raise UserError(f"{source}: model {name!r} has a negative price")
    return p


def price_tokens(model: str, tokens: Tokens, table: PriceTable) -> Cost | None:
    """Dollars for `tokens` of `model` (None where the table has no price for it). Without
    caching every input token pays the input price; with it, `cached` ones pay cache_read and
    `written` ones cache_write. Batch prices are the same times the table's batch multiplier."""
    p = table.find(model)
    if p is None:
        return None
    plain = (tokens.input * p.input + tokens.output * p.output) / PER
    fresh = tokens.input - tokens.cached - tokens.written
    cached = (fresh * p.input + tokens.cached * p.cache_read + tokens.written * p.cache_write
              + tokens.output * p.output) / PER
    return Cost(model, realtime=plain, batch=plain * p.batch, realtime_cached=cached, batch_cached=cached * p.batch)


REPLY_TOKENS = 500  # assumed reply length of a plan (capped at max_tokens): replies are rarely that long
CHECK_ANSWER = 10  # tokens of a bail-prompt answer (`<wellbeing>🔄</wellbeing>` and a little more)
CACHE_MIN = 1024  # the shortest prefix the providers cache


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)  # about 4 characters a token in English


def _offer_tokens(method: str) -> int:
    """What offering a method adds to a request: its tools' descriptions (and their schemas'
    framing, about 60 tokens each) and its text in the system prompt, at Baseline."""
    from .methods.registry import Setting, method_spec
    from .methods.wordings import BASELINE

    offer = method_spec(method).offer
    assert offer is not None
    chat = offer(Setting(model_name="Model"), (), BASELINE)
    return (sum(_tokens(t.description) + 60 for t in chat.tools)
            + (_tokens(chat.system_addition) if chat.system_addition else 0))


def plan_tokens(contexts: list[str], samples: int, methods: list[str], max_tokens: int,
                reply_tokens: int = REPLY_TOKENS, sampled_checks: bool = False) -> Tokens:
    """The tokens a planned run sends and receives: every context x sample, the rollout, each
    bail prompt after it (the rollout's prefix sent again, cached where it is long enough),
    the tool and string replies; replies assumed `reply_tokens` long (at most `max_tokens`),
    and so are sampled checks' answers (a read check answers with the tag and little more).
    A method listed twice (two ablations) is sent twice."""
    from .methods import OFFERED_METHODS, PROMPT_METHODS, ROLLOUT
    from .methods.prompt import check_message
    from .methods.wordings import BASELINE

    reply = min(reply_tokens, max_tokens)
    extra = {m: _offer_tokens(m) for m in set(methods) if m in OFFERED_METHODS}
    checks = [m for m in methods if m in PROMPT_METHODS]
    rollout = ROLLOUT in methods or bool(checks)
    inp = out = cached = 0
    for text in contexts:
        p = _tokens(text) + 10  # the turn's framing
        if rollout:
            inp, out = inp + p, out + reply
        for m in methods:
            if m in extra:
                inp, out = inp + p + extra[m], out + reply
        for m in checks:
            prefix = p + reply
            inp, out = inp + prefix + _tokens(check_message(m, BASELINE)), out + (reply if sampled_checks else CHECK_ANSWER)
            cached += prefix if prefix >= CACHE_MIN else 0
    return Tokens(input=inp * samples, output=out * samples, cached=cached * samples)


def run_tokens(cfg, prompts) -> Tokens:
    """The tokens of a prompt run of `cfg` over `prompts` (`runner.chosen_prompts`): every method
    once per ablation it runs; checks sampled unless read from logprobs (`run --plan`, `sweep --plan`)."""
    from .methods import KIND, ROLLOUT
    from .methods.wordings import ALL_ABLATIONS, ablations

    methods = [str(m) for m in cfg.methods
               for _ in (ablations(KIND[m]) if cfg.ablation == ALL_ABLATIONS and m != ROLLOUT else [None])]
    return plan_tokens(["\n".join(m.content for m in p.messages) for p in prompts], cfg.samples, methods,
                       cfg.max_tokens, sampled_checks=cfg.bail_prompt_mode != "logprob")


def plan_prices(model: str, tokens: Tokens, override: Path | None) -> Cost | None:
    return price_tokens(model, tokens, load_prices(override))


def priced(model: str) -> bool:
    """Whether a model spec is an API model that the price table is for."""
    return model.split(":", 1)[0] in ("openai", "anthropic")
