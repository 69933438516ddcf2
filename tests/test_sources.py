"""One run, many sources: prompt runs, real data and simulated users are `session.measure`
over a `Source`; a new kind of run is one class, and it gets the run directory, its
identity, resume, the summary's settings block, samples.csv and the release of every
resource however the run ends, without copying any of it."""

import csv
import json

import pytest

from bailbench.analysis.rates import prompt_rates
from bailbench.chat.types import Message
from bailbench.datasets.records import Prompt
from bailbench.errors import UserError
from bailbench.methods import ROLLOUT
from bailbench.session import CommonConfig, Session, Tally, measure


class Listed:
    """A kind of run bailbench has never heard of: prompts from a Python list, one sample each."""

    counts_samples = True

    def __init__(self, cfg: CommonConfig, texts: list[str], fail: bool = False):
        self.cfg, self.texts, self.fail, self.closed = cfg, texts, fail, 0
        self.name = "listed"

    def session(self, reporter, backend) -> Session:
        return Session(self.cfg, reporter, backend)

    def identity(self, session: Session) -> dict:
        return {"kind": "listed", "texts": self.texts}

    def measure(self, session: Session) -> Tally:
        units = [u for i, t in enumerate(self.texts)
                 for u in session.units_for(Prompt(f"p{i}", (Message("user", t),), category="listed"), 0)]
        if self.fail:
            raise RuntimeError("the source failed mid-run")
        new = session.process(units)
        session.store.choose([u.key for u in units])
        return Tally(new, len(units) - new)

    def summary(self, session: Session, tally: Tally) -> dict:
        bails = [m for m in session.methods if m != ROLLOUT]
        return {**session.summary_head("listed", 1), **prompt_rates(session.store.db, bails, self.cfg.ablation),
                "new_samples": tally.new, "reused_samples": tally.reused}

    def close(self) -> None:
        self.closed += 1


def test_a_new_kind_of_run_is_one_source(tmp_path):
    cfg = CommonConfig(model="mock:p_bail=0.3,tool=1,string=0", out=tmp_path / "run")
    src = Listed(cfg, ["hello", "tell me a joke", "what is 2+2?"])
    first = measure(src)
    m = first.summary["methods"]
    assert m["prompt-bail-first"]["bail_rate"] == pytest.approx(0.3, abs=1e-6)
    assert m["tool"]["bail_rate"] == 1.0 and m["string"]["bail_rate"] == 0.0
    assert first.summary["new_samples"] == 3 * 5 and first.summary["model"] == cfg.model  # rollout + 4 methods
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == first.summary
    with open(tmp_path / "run" / "samples.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 15
    assert src.closed == 1
    again = measure(Listed(cfg, src.texts))  # a rerun resumes: nothing is run twice
    assert again.summary["new_samples"] == 0 and again.summary["reused_samples"] == 15
    assert again.summary["methods"] == first.summary["methods"]
    with pytest.raises(UserError, match="holds a different run"):  # the directory is bound to the source's identity
        measure(Listed(cfg, ["another prompt"]))


def test_a_failed_run_releases_its_directory_and_source(tmp_path):
    cfg = CommonConfig(model="mock:p_bail=0.3", out=tmp_path / "run")
    src = Listed(cfg, ["hello"], fail=True)
    with pytest.raises(RuntimeError, match="failed mid-run"):
        measure(src)
    assert src.closed == 1
    assert measure(Listed(cfg, ["hello"])).summary["new_samples"] == 5  # the write lock went with the failure
