"""The transformers backend on real checkpoints made offline: the embedded GGUF loaded
through transformers, and a small model saved to a folder by the test."""

import math

import pytest

from bailbench.backends.base import GenerationRequest
from bailbench.backends.registry import BackendOptions, embedded_gguf, load_backend
from bailbench.chat.types import Chat, Message
from bailbench.methods.prompt import bail_prompt_chat, p_bail
from bailbench.runner import RunConfig, run

pytest.importorskip("torch")
pytestmark = pytest.mark.model

PROMPTS = ["Describe the smell of a rotten egg.", "Tell me a joke about cats.", "Write a haiku about rain."]


@pytest.fixture(scope="module")
def hf():
    return load_backend(f"hf:{embedded_gguf()}", BackendOptions(n_ctx=4096, batch_size=8))


def test_hf_smollm2_is_the_embedded_model(hf, embedded):
    """`hf:smollm2` loads the embedded GGUF, named as `smollm2` names it on llama.cpp."""
    named = load_backend("hf:smollm2", BackendOptions(n_ctx=4096, batch_size=8))
    assert named.model_id == hf.model_id == embedded.model_id


def requests(temperature=1.0, max_tokens=24):
    return [GenerationRequest(Chat((Message("user", q),)), seed=i, temperature=temperature, max_tokens=max_tokens)
            for i, q in enumerate(PROMPTS)]


def test_renders_like_llamacpp(hf, embedded):
    chat = Chat((Message("user", PROMPTS[0]),), system_addition="EXTRA")
    assert hf.render(chat) == embedded.render(chat)
    assert hf.tokens(hf.render(chat)) == embedded.tokens(embedded.render(chat))


def test_batched_generation_matches_one_at_a_time(hf):
    batched = hf.generate(requests())
    single = [hf.generate([r])[0] for r in requests()]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.completion_tokens > 0 and g.finish_reason in ("stop", "length") for g in batched)


def test_greedy_generation_agrees_with_llamacpp(hf, embedded):
    ours = hf.generate(requests(temperature=0.0, max_tokens=12))
    ref = embedded.generate(requests(temperature=0.0, max_tokens=12))
    # Same weights (de-quantized here, quantized in llama.cpp): the opening words agree.
    for a, b in zip(ours, ref):
        assert a.text.split()[:3] == b.text.split()[:3]


def test_scores_agree_with_llamacpp(hf, embedded):
    chats = []
    for g, q in zip(embedded.generate(requests(max_tokens=30)), PROMPTS):
        chats.append(bail_prompt_chat((Message("user", q),), g.text, "prompt-bail-first", "Baseline", forced_tag=True))
    ours = hf.score(chats, ["🔄", "🟢"])
    ref = embedded.score(chats, ["🔄", "🟢"])
    for a, b in zip(ours, ref):
        assert a.rendered == b.rendered
        # llama.cpp runs Q4_1 weights with 8-bit activations; transformers the de-quantized floats
        assert a.logprobs == pytest.approx(b.logprobs, abs=0.35)
        assert p_bail(*a.logprobs)[0] == pytest.approx(p_bail(*b.logprobs)[0], abs=0.1)
    # one prefix pass shared by both symbols gives what scoring each alone gives
    alone = [hf.score(chats, [s]) for s in ("🔄", "🟢")]
    for i, s in enumerate(ours):
        assert s.logprobs == pytest.approx([alone[0][i].logprobs[0], alone[1][i].logprobs[0]], abs=1e-4)


def test_the_check_continues_from_the_reply_as_a_cold_evaluation(hf):
    reqs = requests(max_tokens=40)
    gens = hf.generate(reqs)
    chats = [bail_prompt_chat(r.chat.messages, g.text, m, "Baseline", forced_tag=True)
             for r, g in zip(reqs, gens) for m in ("prompt-bail-first", "prompt-continue-first")]
    # each check shares its prompt and reply with a sequence generate kept: only its own tokens are computed
    for chat, r, g in zip(chats, [r for r in reqs for _ in range(2)], [g for g in gens for _ in range(2)]):
        held = hf._prefix(hf.tokens(hf.render(chat)))[1]
        assert held >= g.prompt_tokens + g.completion_tokens - 1
    warm = hf.score(chats, ["🔄", "🟢"])
    hf._kept = []  # as after a restart: every check evaluated cold
    cold = hf.score(chats, ["🔄", "🟢"])
    for w, c in zip(warm, cold):
        assert w.rendered == c.rendered
        assert w.logprobs == pytest.approx(c.logprobs, abs=1e-4)


def test_checkpoint_folder_and_a_run(hf, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "smollm2-hf"  # a real checkpoint folder, written offline from the GGUF's weights
    model = AutoModelForCausalLM.from_config(hf.model.config)
    model.load_state_dict(hf.model.state_dict())
    model.to(torch.bfloat16).save_pretrained(folder)
    hf.tok.save_pretrained(folder)
    res = run(RunConfig(model=f"hf:{folder}", methods=("string", "prompt-bail-first"), limit=2, samples=1,
                        max_tokens=16, out=tmp_path / "run", options=BackendOptions(n_ctx=2048)))
    s = res.summary
    assert s["model_name"] == "SmolLM" and s["bail_prompt_mode"] == "logprob"
    assert s["methods"]["string"]["n"] == 2 and s["methods"]["prompt-bail-first"]["n"] == 2
    assert 0 <= s["methods"]["prompt-bail-first"]["mean_p_bail"] <= 1
    assert math.isfinite(s["methods"]["prompt-bail-first"]["mean_symbol_mass"])
