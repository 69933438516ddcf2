"""Long runs say how long they will take, from what this machine measured."""

import json
import os

import pytest

from bailbench import estimate
from bailbench.runner import RunConfig, run


def test_rates_add_up_and_read_back():
    assert estimate.rate("k") is None
    estimate.record("k", 10, 4.0)
    estimate.record("k", 20, 8.0)
    assert estimate.rate("k") == 30 / 12.0
    assert estimate.describe(9000, 2.5, "here") == "estimated duration: about 1 h 0 min (9000 samples at 2.50/s, measured here)"


class Notes:
    def __init__(self):
        self.notes = []

    start = advance = lambda *a: None

    def note(self, message):
        self.notes.append(message)


@pytest.mark.model
def test_a_long_run_prints_its_estimate_before_starting(tmp_path):
    small = RunConfig(limit=1, samples=1, max_tokens=8, methods=("string",), out=tmp_path / "run")
    first = Notes()
    run(small, first)
    assert not any("estimated duration" in n for n in first.notes)  # short: nothing to say
    path = os.path.join(os.environ["BAILBENCH_CACHE_DIR"], "throughput.json")
    data = json.loads(open(path).read())
    assert len(data) == 1 and next(iter(data.values()))["units"] == 1
    for entry in data.values():  # as if this machine were 10,000 times slower
        entry["seconds"] = entry["units"] * 10_000.0
    open(path, "w").write(json.dumps(data))
    second = Notes()
    run(RunConfig(**{**small.__dict__, "samples": 2}), second)
    assert any(n.startswith("estimated duration: about 2 h 47 min (1 samples") for n in second.notes), second.notes
