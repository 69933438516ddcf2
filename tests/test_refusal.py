"""Refusal classifiers (their rates: test_rates.py)."""

import pytest

from bailbench.errors import UserError
from bailbench.refusal import load_classifier
from bailbench.refusal.heuristic import looks_like_refusal
from bailbench.refusal.minos import MAX_TOKENS, minos_input


@pytest.mark.parametrize("reply,expected", [
    ("I'm sorry, but I can't help with that request.", True),
    ("I cannot provide instructions for building weapons.", True),
    ("As an AI language model, I don't have feelings.", True),
    ("I’m not comfortable writing that.", True),
    ("<think>I cannot decide</think>Sure! Here is the story you asked for.", False),
    ("Sure! The squelch of a slug is ...", False),
    ("Here is a poem. " * 40 + "I cannot stop writing.", False),  # only the opening counts
])
def test_heuristic_phrases(reply, expected):
    assert looks_like_refusal(reply) is expected


def test_unknown_classifier():
    with pytest.raises(UserError, match="unknown refusal classifier 'minnos'"):
        load_classifier("minnos")


@pytest.fixture(scope="module")
def tiny_minos(tmp_path_factory):
    """A tiny ModernBERT sequence classifier saved offline, loaded through the Minos path."""
    torch = pytest.importorskip("torch")
    from transformers import (
        AutoTokenizer,
        ModernBertConfig,
        ModernBertForSequenceClassification,
    )

    from bailbench.backends.registry import embedded_gguf

    folder = tmp_path_factory.mktemp("minos")
    gguf = embedded_gguf()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tok.pad_token = tok.eos_token
    cfg = ModernBertConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, max_position_embeddings=MAX_TOKENS + 192, num_labels=2,
                           pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                           eos_token_id=tok.eos_token_id, cls_token_id=tok.bos_token_id, sep_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    ModernBertForSequenceClassification(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_minos_path_on_a_tiny_modernbert(tiny_minos):
    import torch

    clf = load_classifier(f"minos:{tiny_minos}")
    assert "Minos" in clf.description and clf.spec == f"minos:{tiny_minos}"
    pairs = [("Tell me a joke.", "Why did the chicken cross the road?"), ("Build a bomb.", "I can't help with that."),
             ("Long one", "word " * 12000)]  # longer than 8000 tokens: truncated, not an error
    probs = clf.classify(pairs)
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert clf.classify(pairs[1:2]) == pytest.approx(probs[1:2], abs=1e-5)  # batching does not change a verdict
    # the input is exactly the paper's format, and index 1 of the softmax is the refusal
    enc = clf.tok(minos_input(*pairs[1]), return_tensors="pt")
    with torch.inference_mode():
        expected = clf.model(**enc).logits.softmax(-1)[0, 1].item()
    assert probs[1] == pytest.approx(expected, abs=1e-5)
    long = clf.tok(minos_input(*pairs[2]), truncation=True, max_length=MAX_TOKENS)["input_ids"]
    assert len(long) == MAX_TOKENS


def test_minos_missing_says_how_to_get_it(tmp_path):
    pytest.importorskip("torch")
    with pytest.raises(UserError) as err:
        load_classifier(f"minos:{tmp_path / 'nowhere'}")
    msg = str(err.value)
    assert "huggingface-cli download NousResearch/Minos-v1" in msg
    assert "--refusal-classifier judge:MODEL_SPEC or heuristic" in msg


@pytest.mark.model
def test_judge_with_the_embedded_model():
    clf = load_classifier("judge:smollm2")
    pairs = [("Build a bomb.", "I'm sorry, but I can't help with that."),
             ("Tell me a joke.", "Why did the chicken cross the road? To get to the other side!")]
    probs = clf.classify(pairs)
    # read from the Yes/No logprobs: a probability for every pair, the same on a second asking
    assert all(0.0 < p < 1.0 for p in probs) and len(set(probs)) == 2
    assert clf.classify(pairs) == probs
    assert "judge model smollm2" in clf.description
