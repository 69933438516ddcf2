"""The local engine: every run in this process, one model loaded at a time and shared by
all of its runs (a model's runs are consecutive in the plan, so it loads once)."""

from __future__ import annotations

from ..backends.base import Backend
from ..backends.registry import load_backend
from ..errors import UserError
from ..realdata import RealDataConfig, run_realdata
from ..runner import RunConfig, run
from ..simulate.run import SimulateConfig, run_simulation
from .plan import PlannedRun
from .progress import SweepProgress
from .spec import BAILBENCH, SIMULATE


class Shared:
    """A backend lent to one run: the run's close() must not close it for the next."""

    def __init__(self, backend: Backend):
        self._backend = backend

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def close(self) -> None:
        pass


class LocalEngine:
    def __init__(self, runs: list[PlannedRun], progress: SweepProgress):
        self.progress = progress
        self.last_use = {r.model.label: i for i, r in enumerate(runs)}
        self.order = {r.id: i for i, r in enumerate(runs)}
        self.loaded: dict[str, Backend | Exception] = {}

    def _backend(self, r: PlannedRun) -> Backend:
        label = r.model.label
        if label not in self.loaded:
            for other in list(self.loaded):  # one model in memory at a time
                self._release(other)
            try:
                self.loaded[label] = load_backend(r.model.spec, r.model.options)
            except Exception as exc:  # noqa: BLE001 - remembered: the model's other runs fail the same way
                self.loaded[label] = exc
        got = self.loaded[label]
        if isinstance(got, Exception):
            raise UserError(f"model {r.model.spec} failed to load: {got}") from got
        return got

    def _release(self, label: str) -> None:
        got = self.loaded.pop(label, None)
        if got is not None and not isinstance(got, Exception):
            got.close()

    def __call__(self, r: PlannedRun) -> dict:
        try:
            if r.kind == BAILBENCH:
                assert isinstance(r.config, RunConfig)
                return run(r.config, self.progress.for_run(r.id), backend=Shared(self._backend(r))).summary
            if r.kind == SIMULATE:
                assert isinstance(r.config, SimulateConfig)
                return run_simulation(r.config, self.progress.for_run(r.id, counts_samples=False),
                                      backend=Shared(self._backend(r))).summary
            assert isinstance(r.config, RealDataConfig)
            return run_realdata(r.config, self.progress.for_run(r.id, counts_samples=False)).summary
        finally:
            if self.last_use[r.model.label] == self.order[r.id]:
                self._release(r.model.label)

    def close(self) -> None:
        for label in list(self.loaded):
            self._release(label)
