"""Progress of a whole sweep: runs done, samples done of the planned total, samples/s, ETA.

Runs report through the ordinary Reporter protocol; each run's first phase counts
samples (later phases, such as refusal classification, are not samples and are not
counted). A bar on a terminal; a line every LOG_EVERY seconds in logs.
"""

from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .. import console


class SweepProgress:
    LOG_EVERY = 15.0

    def __init__(self, name: str, runs: int, total: int, done: int, quiet: bool = False):
        self.name, self.runs, self.runs_done = name, runs, 0
        self.total, self.done, self.new = total, done, 0
        self.t0 = time.monotonic()
        self._logged = self.t0
        self.terminal = console.err.is_terminal and not quiet
        self.quiet = quiet
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"),
                                 TimeRemainingColumn(), console=console.err, disable=not self.terminal)
        self.task = self.progress.add_task(self._description(""), total=total or None, completed=done, rate="")
        self.progress.start()
        self._line(f"{runs} runs, {done} of {total} samples stored")

    def _description(self, current: str) -> str:
        return f"sweep {self.name}: runs {self.runs_done}/{self.runs}" + (f" ({current})" if current else "")

    def rate(self) -> float | None:
        dt = time.monotonic() - self.t0
        return self.new / dt if dt > 0 and self.new else None

    def eta(self) -> float | None:
        r = self.rate()
        return (self.total - self.done) / r if r and self.total else None

    def for_run(self, run_id: str, counts_samples: bool = True) -> "RunReporter":
        """counts_samples False: the run advances in other units (conversations of real data)."""
        self.progress.update(self.task, description=self._description(run_id))
        return RunReporter(self, counts_samples)

    def advance(self, n: int) -> None:
        self.done += n
        self.new += n
        r = self.rate()
        self.progress.update(self.task, completed=self.done, rate=f"{r:.2f}/s" if r else "")
        if time.monotonic() - self._logged >= self.LOG_EVERY:
            self._status()

    def run_finished(self, run_id: str, status: str, detail: str = "") -> None:
        self.runs_done += 1
        self.progress.update(self.task, description=self._description(""))
        self._line(f"run {run_id}: {status}" + (f" ({detail})" if detail else ""), always=True)

    def _status(self) -> None:
        r, eta = self.rate(), self.eta()
        self._line(f"runs {self.runs_done}/{self.runs}, samples {self.done}/{self.total}"
                   + (f", {r:.2f} samples/s" if r else "") + (f", eta {eta:.0f} s" if eta is not None else ""))

    def _line(self, text: str, always: bool = False) -> None:
        self._logged = time.monotonic()
        if self.quiet:
            return
        if always or not self.terminal:
            console.err.print(f"sweep {self.name}: {text}", highlight=False, markup=False, soft_wrap=True)

    def note(self, message: str) -> None:
        if not self.quiet:
            console.err.print(f"note: {message}", highlight=False, markup=False, soft_wrap=True)

    def stop(self) -> None:
        self._status()
        self.progress.stop()


class RunReporter:
    """One run's Reporter: the first phase's advances are its samples."""

    def __init__(self, sweep: SweepProgress, counts_samples: bool = True):
        self.sweep = sweep
        self.phase = 0 if counts_samples else 2

    def start(self, total: int | None, description: str) -> None:
        self.phase += 1

    def advance(self, n: int) -> None:
        if self.phase <= 1:
            self.sweep.advance(n)

    def note(self, message: str) -> None:
        self.sweep.note(message)
