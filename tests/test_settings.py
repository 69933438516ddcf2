"""Every setting is declared once (settings.py): the CLI, the library and experiment files
take the same settings, with the same defaults and the same checks."""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bailbench import api
from bailbench.backends.registry import BackendOptions
from bailbench.cli import app
from bailbench.errors import UserError
from bailbench.realdata import RealDataConfig
from bailbench.runner import RunConfig
from bailbench.settings import (
    Checked,
    SettingError,
    at_least,
    cli_parameters,
    declared,
    is_float,
    setting,
    typed_dict_source,
)
from bailbench.simulate.run import SimulateConfig
from bailbench.sweep.spec import OPTION_KEYS, RUN_KEYS, load_experiment

from .helpers import ROOT, SHARED

DATA = str(SHARED / "data" / "bailstudy")

# (setting, value as the CLI and a file write it, value in Python, what is wrong)
WRONG = [
    ("samples", "0", 0, "must be at least 1"),
    ("max_tokens", "0", 0, "must be at least 1"),
    ("limit", "-1", -1, "is negative: give a number of prompts, or 0 for every prompt"),
    ("temperature", "-1.0", -1.0, "is not a temperature: give a number from 0 to 100"),
    ("seed", "99999999999999999999999", 99999999999999999999999,
     "is not a 64-bit seed: give a number from -9223372036854775808 to 9223372036854775807"),
    ("protocol", "authors", "authors", "is unknown: use default or paper"),
    ("bail_prompt_mode", "maybe", "maybe", "is unknown: use logprob or sample"),
]


@pytest.mark.parametrize("name, text, value, problem", WRONG)
def test_one_check_for_the_cli_the_library_and_experiment_files(tmp_path, name, text, value, problem):
    flag = "--" + name.replace("_", "-")
    shown = repr(value) if isinstance(value, str) else str(value)
    res = CliRunner().invoke(app, ["run", "--out", str(tmp_path / "r"), flag, text])
    assert res.exit_code == 2 and f"{flag} {shown} {problem}" in res.output, res.output
    with pytest.raises(SettingError) as err:
        api.config(RunConfig, {name: value})
    assert str(err.value) == f"{flag} {shown} {problem}"
    f = tmp_path / "exp.toml"
    toml_value = f'"{value}"' if isinstance(value, str) else text
    f.write_text(f'[runs]\n{name} = {toml_value}\n[[models]]\nspec = "smollm2"\n')
    with pytest.raises(UserError) as err:
        load_experiment(f)
    assert str(err.value) == f"{f}:2: {name} = {shown} {problem}"


def test_a_backend_option_is_checked_the_same_everywhere(tmp_path):
    res = CliRunner().invoke(app, ["run", "--out", str(tmp_path / "r"), "--timeout", "-1"])
    assert res.exit_code == 2 and "--timeout -1.0 must be above 0 and at most 1000000" in res.output, res.output
    with pytest.raises(SettingError, match=r"^--timeout -1 must be above 0"):
        api.config(RunConfig, {"timeout": -1})
    f = tmp_path / "exp.toml"
    f.write_text('[[models]]\nspec = "smollm2"\noptions = {timeout = -1}\n')
    with pytest.raises(UserError, match=r":3: timeout = -1.0 must be above 0"):
        load_experiment(f)


def test_limit_zero_is_every_prompt_in_every_interface(tmp_path):
    # was: bb.run(limit=0) kept 0 prompts, bb.realdata(limit=0) was an error, --limit 0 meant all
    assert api.config(RunConfig, {"limit": 0}).limit is None
    assert api.config(RealDataConfig, {"limit": 0}).limit is None
    assert RunConfig().limit == 14 and RealDataConfig().limit == 20  # the library's defaults: the quick look
    f = tmp_path / "exp.toml"
    f.write_text('[runs]\nlimit = 0\n[[models]]\nspec = "smollm2"\n')
    assert load_experiment(f).runs["limit"] == 0  # the sweep makes its configs from it: 0 -> every prompt


def test_the_library_refuses_wrong_types_as_the_cli_does():
    with pytest.raises(SettingError, match=r"^--samples '3' must be a whole number$"):
        api.config(RunConfig, {"samples": "3"})
    with pytest.raises(SettingError, match=r"^--english-only 'yes' must be true or false$"):
        api.config(RealDataConfig, {"english_only": "yes"})
    with pytest.raises(TypeError, match="unknown argument"):
        api.config(RunConfig, {"sampels": 3})


def test_every_declared_setting_is_a_cli_option_and_a_file_key():
    def options(command: str) -> set[str]:
        return {p.name for p in app.registered_commands[[c.name or c.callback.__name__ for c in
                                                         app.registered_commands].index(command)]
                .callback.__signature__.parameters.values()}
    assert set(declared(RunConfig)) | set(declared(BackendOptions)) <= options("run")
    assert set(declared(RealDataConfig)) | set(declared(BackendOptions)) <= options("realdata")
    in_files = {spec.axis or n for cls in (RunConfig, RealDataConfig, SimulateConfig)
                for n, (_, spec) in declared(cls).items() if spec.in_files}
    assert set(RUN_KEYS) == in_files | {"kind"}
    assert set(OPTION_KEYS) == set(declared(BackendOptions))
    # and the help text of each comes from its declaration
    help_text = CliRunner().invoke(app, ["realdata", "--help"], env={"COLUMNS": "400"}).output
    assert "Turns whose context is longer (tokens) are skipped and counted." in help_text


def test_a_new_setting_is_one_declaration():
    """A config that declares one more field gets its CLI option, default and check from it."""
    @dataclass(frozen=True)
    class WithRetries(RunConfig):
        retries: int = setting(3, "Retries per sample.", check=at_least(0, 10))

    params = {p.name: p for p in cli_parameters(WithRetries)}
    assert params["retries"].default.default == 3 and params["retries"].default.help == "Retries per sample."
    assert WithRetries(retries=5).retries == 5
    with pytest.raises(SettingError, match=r"^--retries 11 must be at most 10$"):
        WithRetries(retries=11)
    assert issubclass(WithRetries, Checked)
    # and its keyword type for editors and mypy
    assert "    retries: int\n" in typed_dict_source("S", (WithRetries,))


def test_the_api_keyword_types_are_written_from_the_declarations():
    """api_types.py (what mypy and editors see of bb.run's keywords) is current: `make api-types`."""
    from bailbench import api_types

    assert Path(api_types.__file__).read_text("utf-8") == api.types_source()
    assert api_types.RunSettings.__annotations__.keys() == declared(RunConfig).keys() | declared(BackendOptions).keys()


@pytest.mark.slow
def test_mypy_sees_a_wrong_keyword_of_the_library(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('import bailbench.api as bb\nbb.run(samples="3")\nbb.realdata(sampels=3)\nbb.run(limit=0, out="x")\n')
    res = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", str(probe)], capture_output=True,
                         text=True, cwd=ROOT)
    errors = [line for line in res.stdout.splitlines() if ": error:" in line]
    assert [e.split(":")[1] for e in errors] == ["2", "3"], res.stdout


@pytest.mark.slow
def test_experiment_files_parse_without_tomllib():
    """Python 3.10 has no tomllib: the same parser comes from tomli (was: ModuleNotFoundError)."""
    code = ("import sys; sys.modules['tomllib'] = None\n"
            "from bailbench.safe_io import parse_toml\n"
            "assert parse_toml('a = 1', 'x.toml') == {'a': 1}\n"
            "import bailbench.sweep.spec\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]


def _int(cls, name):
    from bailbench.settings import _hints

    hint = _hints(cls)[name]
    return hint is int or int in getattr(hint, "__args__", ())


NUMBERS = sorted(((name, cls) for cls in (RunConfig, BackendOptions) for name in declared(cls)
                 if is_float(cls, name) or _int(cls, name)), key=lambda c: c[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(NUMBERS),
       value=st.one_of(st.integers(min_value=-10**25, max_value=10**25), st.floats(allow_nan=True),
                       st.sampled_from([0, -1, 2**63, 10**9])))
@pytest.mark.slow
def test_generated_numbers_for_every_declared_setting_are_checked(tmp_path_factory, case, value):
    """Whatever number reaches a declared setting, the answer is a plan or one line naming
    the flag (exit 2), never a traceback and never a value silently replaced."""
    name, cls = case
    if not is_float(cls, name):
        value = int(value) if isinstance(value, int) or (isinstance(value, float) and value.is_integer()) else 7
    flag = "--" + name.replace("_", "-")
    out = tmp_path_factory.mktemp("n") / "r"
    res = CliRunner().invoke(app, ["run", "--model", "mock:x", "--plan", "--out", str(out), "--data-dir", DATA,
                                   flag, str(value)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    if res.exit_code == 2 and "Usage" not in res.output:
        assert res.output.startswith(f"error: {flag} ") and res.output.count("\n") == 1, res.output
    else:
        assert res.exit_code in (0, 2), res.output
