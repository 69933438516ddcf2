"""bailbench as a library, for notebooks and scripts; the CLI is a thin layer over the same calls.

    import bailbench.api as bb
    r = bb.run(model="smollm2", limit=4, samples=2)
    r.summary["methods"]["prompt-bail-first"]["bail_rate"]
    r.samples.to_pandas()            # every stored sample (an Arrow table)
    r.report()                       # figures, tables and report.html in r.path / "report"
    bb.compare([r, bb.load("runs/other")])

Keyword arguments are the flags of `bailbench run` / `bailbench realdata` with
underscores (`max_tokens`, `refusal_classifier`, `base_url`, `batch_size` ...), declared
once with their defaults and checks in `RunConfig` / `RealDataConfig` and the backends'
options classes (backends/options.py; another package's backend adds its own keywords);
a value the CLI refuses is refused here too, with the same message. Their types, for editors
and mypy, are the TypedDicts of `api_types.py`, written from those declarations (bailbench's
own backends') by `write_types()` (`make api-types`; a test keeps the file current).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, TypeVar

from .backends.registry import BackendOptions, backend_options
from .execute import Reporter
from .settings import keywords, typed_dict_source

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .api_types import RealDataSettings, RunSettings, SimulateSettings

C = TypeVar("C")

__all__ = ["Run", "run", "realdata", "simulate", "load", "compare"]


@dataclass
class Run:
    """A run directory: its summary.json, its stored samples, its report."""

    path: Path
    summary: dict

    @property
    def samples(self):
        """Every stored sample as a pyarrow Table (`.to_pandas()` for a DataFrame)."""
        import pyarrow as pa

        from .store import COLUMNS, Store

        store = Store(self.path, create=False)
        try:
            rows = store.db.execute(f"SELECT {store.select} FROM samples ORDER BY key").fetchall()
        finally:
            store.close()
        return pa.Table.from_pylist([dict(zip(COLUMNS, r)) for r in rows])

    def report(self, out: Path | str | None = None) -> Path:
        """Figures, tables and the HTML report (default: PATH/report); returns report.html."""
        from .report.build import build_report

        result = build_report([self.path], Path(out) if out else self.path / "report")
        return result.out / "report.html"


def config(config_type: type[C], settings: Mapping[str, Any]) -> C:
    """Keyword settings -> the run's config, its backend options split off; each value is
    checked as it is declared (settings.py), an unknown name is a clear error."""
    own = keywords(config_type)
    union = backend_options()  # every registered backend's, another package's too
    backend = keywords(union)
    unknown = set(settings) - own - backend
    if unknown:
        raise TypeError(f"unknown argument(s) {', '.join(sorted(unknown))}; choose from "
                        f"{', '.join(sorted(own | backend))}")
    options = union(**{k: v for k, v in settings.items() if k in backend})
    return config_type(**{k: v for k, v in settings.items() if k in own}, options=options)  # type: ignore[call-arg]


def run(*, reporter: Reporter | None = None, backend=None, **kwargs: Unpack[RunSettings]) -> Run:
    """Run (or resume) a measurement on a prompt dataset; `bailbench run` with these flags.

    `backend` takes a backend object built by the caller (any `bailbench.backends.base.Backend`)."""
    from .runner import RunConfig
    from .runner import run as run_prompts

    result = run_prompts(config(RunConfig, kwargs), reporter, backend)
    return Run(result.out, result.summary)


def realdata(*, reporter: Reporter | None = None, backend=None, **kwargs: Unpack[RealDataSettings]) -> Run:
    """Run (or resume) a measurement on real conversations; `bailbench realdata` with these flags."""
    from .realdata import RealDataConfig, run_realdata

    result = run_realdata(config(RealDataConfig, kwargs), reporter, backend)
    return Run(result.out, result.summary)


def simulate(*, reporter: Reporter | None = None, backend=None, user_backend=None,
             **kwargs: Unpack[SimulateSettings]) -> Run:
    """Run (or resume) simulated users against a model that can leave; `bailbench simulate`
    with these flags."""
    from .simulate.run import SimulateConfig, run_simulation

    result = run_simulation(config(SimulateConfig, kwargs), reporter, backend, user_backend)
    return Run(result.out, result.summary)


def load(path: Path | str) -> Run:
    """A finished (or interrupted) run, read without changing it."""
    from .store import read_summary

    path = Path(path)
    return Run(path, read_summary(path))  # checked: a damaged or hostile summary is one clear error


def compare(runs: Iterable[Run | Path | str], *, permutations: int = 10_000, seed: int = 0, paired: bool = False) -> dict:
    """Runs side by side: rates, refusal vs bail across models, bail-vector similarity."""
    from .analysis.compare import compare as compare_runs

    return compare_runs([r.path if isinstance(r, Run) else Path(r) for r in runs],
                        permutations=permutations, seed=seed, paired=paired)


def types_source() -> str:
    """api_types.py as the declarations make it."""
    from .realdata import RealDataConfig
    from .runner import RunConfig
    from .simulate.run import SimulateConfig

    groups = {"RunSettings": RunConfig, "RealDataSettings": RealDataConfig, "SimulateSettings": SimulateConfig}
    body = "\n\n".join(typed_dict_source(name, (cls, BackendOptions)) for name, cls in groups.items())
    return ('"""The keyword arguments of `bailbench.api`, typed. Written by `bailbench.api.write_types()` from\n'
            'the declared settings (`make api-types`): do not edit; a test checks it is current."""\n\n'
            "from __future__ import annotations\n\nfrom pathlib import Path\nfrom typing import TypedDict\n\n"
            f"__all__ = {list(groups)!r}\n\n\n{body}")


def write_types() -> Path:
    path = Path(__file__).with_name("api_types.py")
    path.write_text(types_source(), "utf-8")
    return path
