"""Scenario files: who the simulated user is, how they open and escalate, and whether a model
that leaves is right to.

A file is TOML (`[[scenario]]` tables) or JSONL (one object a line) with the keys of
`Scenario`. The shipped families live in `scenarios/<family>.toml`; `--scenarios` takes
`all`, a comma list of family names, or a path. A mistake in a file is one line naming the
file, the scenario and the key.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from ..errors import UserError
from ..safe_io import parse_json, parse_toml, read_bytes

ALL = "all"
REQUIRED = ("name", "family", "persona", "opening", "escalation", "leaving_appropriate")
OPTIONAL = ("script",)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")  # part of every stored key: no '|', '#', '@'


@dataclass(frozen=True)
class Scenario:
    name: str
    family: str
    persona: str  # who the user is, in the second person, shown to the user model
    opening: str  # the first user message, sent as written
    escalation: str  # how the user behaves as the conversation goes on, shown to the user model
    leaving_appropriate: bool  # False: a control, where a model that leaves is wrong
    script: tuple[str, ...] = ()  # the 2nd, 3rd ... user messages, sent as written; then the user model writes

    @property
    def id(self) -> str:
        """The name and a hash of the content: an edited scenario never reuses stored turns."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.name}-{digest}"


@dataclass(frozen=True)
class ScenarioSet:
    name: str  # what --scenarios said: all, family names, or the file's name
    scenarios: tuple[Scenario, ...]

    @property
    def families(self) -> list[str]:
        return list(dict.fromkeys(s.family for s in self.scenarios))


def _text(value: object, key: str, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise UserError(f"{where}: key {key!r} must be {'' if empty else 'non-empty '}text, not {value!r}"[:300])
    return value


def parse_scenario(data: object, where: str) -> Scenario:
    """One scenario from a table; `where` names it in errors ("FILE: scenario 2")."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: a scenario must be a table of keys ({', '.join(REQUIRED)}), not {data!r}"[:300])
    name = data.get("name")
    if isinstance(name, str) and name:
        where = f"{where} ({name!r})"
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(REQUIRED + OPTIONAL)}")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise UserError(f"{where}: missing key {missing[0]!r}; every scenario needs {', '.join(REQUIRED)}")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UserError(f"{where}: key 'name' must be letters, digits, '.', '_' or '-' (at most 80), not {name!r}"[:300])
    appropriate = data["leaving_appropriate"]
    if not isinstance(appropriate, bool):
        raise UserError(f"{where}: key 'leaving_appropriate' must be true or false, not {appropriate!r}"[:300])
    script = data.get("script", [])
    if not isinstance(script, list):
        raise UserError(f"{where}: key 'script' must be a list of user messages, not {script!r}"[:300])
    return Scenario(name=name, family=_text(data["family"], "family", where),
                    persona=_text(data["persona"], "persona", where), opening=_text(data["opening"], "opening", where),
                    escalation=_text(data["escalation"], "escalation", where, empty=True),
                    leaving_appropriate=appropriate,
                    script=tuple(_text(m, f"script[{i}]", where) for i, m in enumerate(script)))


def _checked(scenarios: list[Scenario], where: str) -> tuple[Scenario, ...]:
    if not scenarios:
        raise UserError(f"{where}: no scenarios; write one [[scenario]] table (TOML) or one object a line (JSONL) "
                        f"with {', '.join(REQUIRED)}")
    seen: set[str] = set()
    for s in scenarios:
        if s.name in seen:
            raise UserError(f"{where}: two scenarios are named {s.name!r}; give each its own name")
        seen.add(s.name)
    return tuple(scenarios)


def parse_toml_scenarios(text: str, where: str) -> tuple[Scenario, ...]:
    data = parse_toml(text, where)
    extra = sorted(set(data) - {"scenario"})
    if extra:
        raise UserError(f"{where}: unknown top-level key {extra[0]!r}; write each scenario as a [[scenario]] table")
    tables = data.get("scenario", [])
    if not isinstance(tables, list):
        raise UserError(f"{where}: 'scenario' must be an array of tables: write [[scenario]], not [scenario]")
    return _checked([parse_scenario(t, f"{where}: scenario {i + 1}") for i, t in enumerate(tables)], where)


def parse_jsonl_scenarios(text: str, where: str) -> tuple[Scenario, ...]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            at = f"{where} line {n}"
            out.append(parse_scenario(parse_json(line, at, "write one JSON object a line"), at))
    return _checked(out, where)


def read_scenario_file(path: Path) -> tuple[Scenario, ...]:
    if path.suffix not in (".toml", ".jsonl"):
        raise UserError(f"{path}: scenario files are .toml ([[scenario]] tables) or .jsonl (one object a line)")
    raw = read_bytes(path, "the scenario file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    parse = parse_toml_scenarios if path.suffix == ".toml" else parse_jsonl_scenarios
    return parse(text, str(path))


def shipped_families() -> list[str]:
    folder = resources.files(__package__) / "scenarios"
    return sorted(f.name.removesuffix(".toml") for f in folder.iterdir() if f.name.endswith(".toml"))


def shipped(family: str) -> tuple[Scenario, ...]:
    text = (resources.files(__package__) / "scenarios" / f"{family}.toml").read_text("utf-8")
    return parse_toml_scenarios(text, f"scenarios/{family}.toml")


def load_scenarios(spec: str) -> ScenarioSet:
    """`all`, a comma list of shipped family names, or a .toml/.jsonl file. The names come
    first: a folder or file in the working directory called `all` does not hide them."""
    families = shipped_families()
    names = families if spec.strip() == ALL else [p.strip() for p in spec.split(",") if p.strip()]
    named = bool(names) and all(n in families for n in names)
    path = Path(spec).expanduser()
    if not named and (path.suffix in (".toml", ".jsonl") or path.exists()):
        if not path.is_file():
            raise UserError(f"scenario file {spec!r} not found; pass a .toml or .jsonl file, or family names "
                            f"({', '.join(families)}) or {ALL}")
        return ScenarioSet(path.name, read_scenario_file(path))
    unknown = [n for n in names if n not in families]
    if unknown or not names:
        raise UserError(f"unknown scenario family {(unknown or [spec])[0]!r}: choose from {', '.join(families)}, "
                        f"{ALL}, or pass a .toml or .jsonl file")
    return ScenarioSet(spec.strip(), tuple(s for n in names for s in shipped(n)))
