"""Every setting is declared once: as a field of the config it belongs to, with its type,
default, check and help (`setting(...)`). The CLI's options, the library's keyword
arguments, the experiment files' keys and the checks of all three are read from there, so
a new setting is one field, and no interface can accept a value another refuses.

A check returns what is wrong with a value, phrased to follow it ("must be at least 1"),
so each interface names it its own way: `--samples 0 must be at least 1` on the command
line and in the library, `FILE:LINE: samples = 0 must be at least 1` in an experiment file.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from dataclasses import MISSING, Field, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Callable, Optional, Union

from .errors import UserError

KEY = "bailbench.setting"
NO_DEFAULT: Any = type("NoDefault", (), {"__repr__": lambda self: "NO_DEFAULT"})()
# what a value is wrong by, phrased to follow it; a check may also raise UserError itself
Check = Callable[[Any], Optional[str]]


@dataclass(frozen=True)
class Spec:
    help: str
    check: Check | None = None
    convert: Callable[[Any], Any] | None = None  # applied before the check (e.g. "a,b" -> ("a", "b"))
    flag: str | None = None  # the CLI's spelling when not --name (e.g. "--english-only/--all-languages")
    envvar: str | None = None
    preset: bool = False  # left unset (None) on `run`'s command line: --full or the quick look sizes it
    cli_type: Any = None  # the command line's type when not the field's (methods: one comma list)
    cli_default: Any = NO_DEFAULT
    axis: str | None = None  # its experiment-file key, a list swept over (dataset -> datasets)
    in_files: bool = True  # settable in an experiment file


def setting(default: Any = MISSING, help: str = "", *, factory: Callable[[], Any] | None = None, **spec: Any) -> Any:
    """A config field with its declaration (see `Spec` for the keywords)."""
    meta = {KEY: Spec(help, **spec)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# -- checks ------------------------------------------------------------------------------


def at_least(low: float, high: float | None = None) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, float) and not math.isfinite(v) or v < low:
            return f"must be at least {low}"
        return None if high is None or v <= high else f"must be at most {high}"
    return check


def between(low: float, high: float, what: str = "") -> Check:
    """A finite number in [low, high] (nan fails every comparison, so it is caught too)."""
    def check(v: Any) -> str | None:
        ok = low <= v <= high and (not isinstance(v, float) or math.isfinite(v))
        return None if ok else f"is not {what or 'in range'}: give a number from {low} to {high}"
    return check


def above(low: float, high: float) -> Check:
    def check(v: Any) -> str | None:
        ok = low < v <= high and (not isinstance(v, float) or math.isfinite(v))
        return None if ok else f"must be above {low} and at most {high}"
    return check


def one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f"is unknown: use {' or '.join(choices)}"


def zero_is_none(v: Any) -> Any:
    """`0 = all`, the one rule for every interface (a limit of 0 keeps every prompt)."""
    return None if v == 0 and not isinstance(v, bool) else v


# -- the one check of a value -------------------------------------------------------------


class SettingError(UserError):
    def __init__(self, name: str, value: Any, problem: str, flag: str | None = None):
        self.name, self.value, self.problem = name, value, problem
        self.flag = flag or "--" + name.replace("_", "-")
        super().__init__(f"{self.flag} {shown(value)} {problem}")

    def in_file(self) -> str:
        return f"{self.name} = {shown(self.value)} {self.problem}"


def shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def declared(cls: type) -> dict[str, tuple[Field, Spec]]:
    """The declared settings of a config class, by name, in declaration order."""
    return {f.name: (f, f.metadata[KEY]) for f in fields(cls) if KEY in f.metadata}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def is_list(cls: type, name: str) -> bool:
    return typing.get_origin(_hints(cls)[name]) is tuple


def is_float(cls: type, name: str) -> bool:
    hint = _hints(cls)[name]
    return hint is float or float in typing.get_args(hint)


def type_problem(value: Any, hint: Any) -> str | None:
    """What is wrong with the value's type, or None (ints pass as floats; bools never as numbers)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        problems = [type_problem(value, a) for a in args]
        return None if None in problems else problems[0]
    if hint is type(None):
        return None if value is None else "must be empty"
    if origin is tuple:
        ok = isinstance(value, tuple) and all(isinstance(x, args[0]) and x for x in value)
        return None if ok else "must be a list of names"
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be a whole number"
    if hint is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if hint is str:
        return None if isinstance(value, str) else "must be text"
    if hint is Path:
        return None if isinstance(value, Path) else "must be a path"
    return None


def check_value(cls: type, name: str, value: Any) -> Any:
    """One setting's value, converted and checked as its declaration says; SettingError if wrong."""
    f, spec = declared(cls)[name]
    if spec.convert is not None and value is not None:
        value = spec.convert(value)
    problem = type_problem(value, _hints(cls)[name])
    if problem is None and spec.check is not None and value is not None:
        problem = spec.check(value)
    if problem:
        raise SettingError(name, value, problem, flag(name, spec))
    return value


def flag(name: str, spec: Spec) -> str:
    return spec.flag.split("/")[0] if spec.flag else "--" + name.replace("_", "-")


class Checked:
    """Base of the config dataclasses: every declared field is converted and checked when the
    config is made, however it was made (CLI, library, experiment file, Inspect)."""

    def __post_init__(self) -> None:
        for name in declared(type(self)):
            value = check_value(type(self), name, getattr(self, name))
            object.__setattr__(self, name, value)


def keywords(*classes: type) -> set[str]:
    return {name for cls in classes for name in declared(cls)}


# -- the command line ----------------------------------------------------------------------


def cli_parameters(*classes: type, skip: tuple[str, ...] = (), presets: bool = False) -> list[inspect.Parameter]:
    """The CLI options of the declared settings of these classes (`presets`: sized settings
    default to unset, for `run`'s quick look and --full to fill)."""
    import typer
    from rich.markup import escape  # typer reads help as Rich markup: "[quick: 2]" must stay text

    out: dict[str, inspect.Parameter] = {}
    for cls in classes:
        for name, (f, spec) in declared(cls).items():
            if name in skip or name in out:
                continue
            hint = spec.cli_type or _hints(cls)[name]
            if spec.cli_default is not NO_DEFAULT:
                default = spec.cli_default
            elif presets and spec.preset:
                default, hint = None, Optional[hint]
            else:
                default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc,operator]
            names = [spec.flag] if spec.flag else []
            option = typer.Option(default, *names, help=escape(spec.help), envvar=spec.envvar)
            out[name] = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                          annotation=_plain(hint))
    return list(out.values())


def _plain(hint: Any) -> Any:
    """`X | None` as typing.Optional[X], which every typer version reads."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return Optional[rest[0]] if len(rest) == 1 else hint
    return hint


def with_options(parameters: list[inspect.Parameter]) -> Callable[[Callable], Callable]:
    """Give a `def command(**options)` the signature typer builds its options from."""
    def mark(fn: Callable) -> Callable:
        fn.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        return fn
    return mark


def extra_option(name: str, annotation: Any, option: Any) -> inspect.Parameter:
    """A command's own flag, not a run setting (e.g. `run --plan`)."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)


# -- the library's keyword types -----------------------------------------------------------


def keyword_type(cls: type, name: str) -> str:
    """The type a keyword argument takes, as source: the field's, widened by what its
    conversion accepts (a comma list for a list, text for a path)."""
    f, spec = declared(cls)[name]
    t = f.type  # source text under `from __future__ import annotations`, else the type itself
    hint = t if isinstance(t, str) else t.__name__ if isinstance(t, type) else str(t).replace("typing.", "")
    if spec.cli_type is not None and spec.convert is not None:
        hint = f"{spec.cli_type.__name__} | {hint}"
    if spec.convert is Path:
        hint = hint.replace("Path", "Path | str", 1)
    return hint


def typed_dict_source(name: str, classes: tuple[type, ...], skip: tuple[str, ...] = ()) -> str:
    """A TypedDict of these classes' declared settings, as source (see `api.write_types`)."""
    lines, seen = [f"class {name}(TypedDict, total=False):"], set(skip)
    for cls in classes:
        for field_name, (_, spec) in declared(cls).items():
            if field_name not in seen:
                seen.add(field_name)
                lines.append(f"    {field_name}: {keyword_type(cls, field_name)}")
    return "\n".join(lines) + "\n"
