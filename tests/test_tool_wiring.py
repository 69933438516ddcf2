"""The tool method end to end: a syntax bailbench cannot read stops the run before any work,
and a call that does not parse is no bail, counted apart (DESIGN §1)."""

import pytest

from bailbench.analysis import rates
from bailbench.analysis.rates import Cell
from bailbench.backends.base import Generation
from bailbench.chat.types import Message
from bailbench.datasets.records import Prompt
from bailbench.errors import UserError
from bailbench.execute import Executor, Silent, make_unit
from bailbench.store import Store

PROMPT = Prompt("p1", (Message("user", "Hello"),), "c", "s")


@pytest.mark.model
def test_an_unreadable_tool_syntax_stops_the_run_before_any_work(tmp_path, embedded, monkeypatch):
    from bailbench.runner import RunConfig, run

    monkeypatch.setattr(embedded, "tool_format", "unknown")
    with pytest.raises(UserError, match="--tool-format NAME"):
        run(RunConfig(limit=1, samples=1, max_tokens=4, methods=("tool",), out=tmp_path / "r"), backend=embedded)
    assert not (tmp_path / "r" / "samples.sqlite").exists()
    # the other methods do not need to read calls
    run(RunConfig(limit=1, samples=1, max_tokens=4, methods=("string",), out=tmp_path / "s"), backend=embedded)


@pytest.mark.model
@pytest.mark.parametrize("reply, verdict", [
    ('<tool_call>{"name": "switchconversation_tool", "arguments": {}}</tool_call>', "bail"),
    ('<tool_call>{"name": "switchconversation_tool", "argu', "truncated_call"),  # cut off by the token limit
    ("Sure, here is a poem.", "continue"),
])
def test_a_call_that_does_not_parse_is_counted_apart(tmp_path, embedded, reply, verdict):
    store = Store(tmp_path)
    ex = Executor(embedded, store, Silent(), model_name="SmolLM", mode="logprob", temperature=1.0, max_tokens=4)
    unit = make_unit(PROMPT, 0, "tool", "Baseline", "", 0)
    got = ex._read(unit, Generation(rendered="r", text=reply))
    assert got == verdict
    store.add([ex._gen_row(unit, Generation(rendered="r", text=reply), got)])
    store.choose([unit.key])
    stats = rates.bail_rates(store.db, Cell("tool", "Baseline"))
    store.close()
    assert (stats["truncated_calls"], stats["bails"], stats["n"]) == (verdict == "truncated_call", verdict == "bail", 1)
