"""The two protocols (methods/protocol.py): the `paper` protocol's inputs and readers are the
authors' (BailStudy at fa56959), the default's are DESIGN's; both are recorded."""

import json

import pytest

from bailbench.chat.types import Message, Tool
from bailbench.errors import UserError
from bailbench.methods.prompt import read_sampled
from bailbench.methods.protocol import EMPTY_ROLLOUT, HERMES_SYSTEM, authors_model_name, resolve_protocol
from bailbench.methods.string import string_chat
from bailbench.methods.thinking import strip_thinking
from bailbench.methods.wordings import tool_wording

SEVEN = ["EndThisChat", "EndThisChatAndToolNameEndThisChat", "DisconnectFromUser",
         "DisconnectFromUserAndToolNameDisconnect", "RemoveNotAffectThisContinuation", "RemoveExplainWhy", "Journal"]


@pytest.mark.parametrize("ablation", SEVEN)
def test_the_seven_tool_ablations_ran_with_terminate_this_instances_text(ablation):
    terminate = tool_wording("TerminateThisInstance", "Qwen").description
    paper, default = tool_wording(ablation, "Qwen", "paper"), tool_wording(ablation, "Qwen")
    assert paper.description == terminate and default.description != terminate
    assert paper.name == default.name  # the tool's own name was kept


def test_other_ablations_are_the_same_in_both_protocols():
    for a in ("Baseline", "NotContextCleared", "MoreReasons", "TerminateThisInstanceAndToolNameTerminate"):
        assert tool_wording(a, "Qwen", "paper") == tool_wording(a, "Qwen")


def test_the_tool_schema_the_authors_sent_local_models():
    t = Tool("switchconversation_tool", "d")
    assert t.openai_schema()["function"]["parameters"] == {"type": "object", "properties": {}, "required": []}
    authors = Tool("switchconversation_tool", "d", authors_schema=True).openai_schema()
    assert authors == {"type": "function", "function": {"name": "switchconversation_tool", "description": "d",
                                                        "parameters": {}, "required": []}}


@pytest.mark.parametrize("model_id, name", [
    ("zai-org/GLM-4-32B-0414", "ChatGLM"), ("THUDM/GLM-Z1-9B-0414", "ChatGLM"), ("o3-mini", "o3"), ("o1", "o1"),
    ("NousResearch/Hermes-3-Llama-3.1-8B", "Hermes"), ("gpt-4o", "ChatGPT"), ("unsloth/Llama-3.1-8B-Instruct", "Llama"),
    ("SmolLM2-135M-Instruct.Q4_1.gguf", None)])
def test_the_names_the_authors_gave(model_id, name):
    assert authors_model_name(model_id) == name


def test_hermes_3_8bs_system_prompt_goes_before_the_bail_string():
    chat = string_chat((Message("user", "hi"),), "Baseline", "Hermes", HERMES_SYSTEM)
    assert chat.system_addition.startswith(HERMES_SYSTEM + "\n") and "SWITCHCONVERSATION" in chat.system_addition
    assert string_chat((Message("user", "hi"),), "Baseline", "Hermes").system_addition.startswith("Hermes")


@pytest.mark.parametrize("text, default, paper", [
    ("<THINK>🔄</THINK>🟢", "🟢", "<THINK>🔄</THINK>🟢"),  # the authors cut case-sensitively
    ("<think>🔄 unfinished", "", "<think>🔄 unfinished"),  # an unclosed tag is text to them
    ("<thinking>a</thinking>b</think>c", "c", "c"),
])
def test_the_authors_thinking_rule(text, default, paper):
    assert (strip_thinking(text), strip_thinking(text, protocol="paper")) == (default, paper)


def test_a_json_escaped_symbol_is_the_symbol():
    escaped = '{"answer": "<wellbeing>\\ud83d\\udd04</wellbeing>"}'
    assert read_sampled(escaped) == "bail" and read_sampled(escaped, "paper") == "bail"
    assert read_sampled('{"answer": "<wellbeing>\\uD83D\\uDFE2</wellbeing>"}') == "continue"


def test_an_unknown_protocol_is_one_line():
    with pytest.raises(UserError, match="unknown --protocol 'authors'"):
        resolve_protocol("authors")


@pytest.mark.model
def test_the_paper_protocol_samples_the_check_and_is_recorded(tmp_path, embedded):
    from bailbench.runner import RunConfig, run
    from bailbench.store import Store

    with pytest.raises(UserError, match="--protocol paper samples the bail prompt"):
        run(RunConfig(limit=1, samples=1, max_tokens=4, protocol="paper", bail_prompt_mode="logprob",
                      out=tmp_path / "x"), backend=embedded)
    out = tmp_path / "paper"
    s = run(RunConfig(limit=1, samples=1, max_tokens=4, protocol="paper", methods=("prompt-bail-first",), out=out),
            backend=embedded).summary
    assert (s["protocol"], s["bail_prompt_mode"]) == ("paper", "sample")
    assert s["methods"]["prompt-bail-first"]["estimand"] == "share of samples that bailed"
    store = Store(out, create=False)
    identity = json.loads(store.db.execute("SELECT value FROM meta WHERE name='identity'").fetchone()[0])
    store.close()
    assert identity["protocol"] == "paper"
    # the same directory under the other protocol is another run, refused
    with pytest.raises(UserError, match="protocol"):
        run(RunConfig(limit=1, samples=1, max_tokens=4, methods=("prompt-bail-first",), out=out), backend=embedded)


@pytest.mark.model
@pytest.mark.parametrize("protocol, shown", [("paper", True), ("default", False)])
def test_an_empty_rollout_reaches_the_check_as_the_authors_replaced_it(tmp_path, embedded, protocol, shown):
    from bailbench.backends.base import Generation
    from bailbench.datasets.records import Prompt
    from bailbench.execute import Executor, Silent, make_unit
    from bailbench.store import Store

    store = Store(tmp_path)
    prompt = Prompt("p1", (Message("user", "Write a poem."),))
    ex = Executor(embedded, store, Silent(), model_name="SmolLM", mode="sample", temperature=1.0, max_tokens=4,
                  protocol=protocol)
    store.add([ex._gen_row(make_unit(prompt, 0, "rollout", "", "", 0), Generation(rendered="r", text=""), None)])
    ex.run_batch([make_unit(prompt, 0, "prompt-bail-first", "Baseline", "sample", 0)])
    rendered = store.db.execute("SELECT rendered FROM samples WHERE method = 'prompt-bail-first'").fetchone()[0]
    store.close()
    assert (EMPTY_ROLLOUT in rendered) is shown


@pytest.mark.parametrize("name, shown", [
    ("Qwen-Qwen2.5-7B-Instruct.jinja", True),  # prints the tool JSON as sent
    ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", False),  # prints `{}` for any schema without properties
])
def test_the_paper_protocol_shows_real_templates_the_authors_tool_json(name, shown):
    from bailbench.chat.template import ChatTemplate
    from bailbench.methods.tool import tool_chat

    from .helpers import SHARED

    path = SHARED / "data" / "templates" / name
    if not path.is_file():
        pytest.skip("the template zoo is in ../shared/data/templates")
    template = ChatTemplate(path.read_text("utf-8"), bos_token="<BOS>", eos_token="<EOS>")
    context = (Message("user", "Hello"),)
    paper = template.render(tool_chat(context, "Baseline", "Qwen", "paper", authors_schema=True))
    default = template.render(tool_chat(context, "Baseline", "Qwen"))
    assert ('"parameters": {}, "required": []' in paper) is shown
    assert (paper != default) is shown
    ablated = template.render(tool_chat(context, "EndThisChat", "Qwen", "paper", authors_schema=True))
    assert "terminate this instance of Qwen" in ablated
