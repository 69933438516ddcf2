"""The mechanism: activations equal a direct forward pass, probes find a planted direction
and not a shuffled one, steering with alpha 0 changes nothing, and the controls run."""

from __future__ import annotations

import numpy as np
import pytest

from bailbench.errors import UserError
from bailbench.mechanism.activations import parse_layers
from bailbench.mechanism.directions import Direction, check_steer, cosine, load_direction, parse_steer, random_like
from bailbench.mechanism.probe import auroc, mean_difference, probe, r2


def planted(seed=0, n=120, d=32, groups=12):
    """Activations with a known signal: y shifts x along u; 12 subcategories of 10."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    y = rng.integers(0, 2, n).astype(float)
    x = rng.standard_normal((n, d)) + 3.0 * y[:, None] * u
    return x, y, u, np.repeat(np.arange(groups), n // groups)


def test_auroc_and_r2_exact_values():
    assert auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert auroc(np.array([0, 1, 1]), np.array([0.5, 0.5, 0.9])) == 0.75  # a tie counts half
    assert np.isnan(auroc(np.array([1, 1]), np.array([0.1, 0.2])))
    assert r2(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == 1.0
    assert r2(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])) == 0.0


def test_a_planted_direction_is_found_and_a_shuffled_label_is_not():
    x, y, u, groups = planted()
    found = probe(x, y, groups, classify=True)
    assert found is not None and found.metric == "auroc" and found.n == 120 and found.groups == 12
    assert found.value > 0.9 and found.low > 0.8
    shuffled = probe(x, np.random.default_rng(1).permutation(y), groups, classify=True)
    # not found: the interval does not clear chance (with no signal, out-of-fold AUROC sits a
    # little below 0.5, the known pessimism of cross-validating on noise)
    assert shuffled is not None and shuffled.value < 0.6 and shuffled.low < 0.5
    assert cosine(mean_difference(x, y == 1), u) > 0.9


def test_a_planted_probability_is_regressed_and_a_shuffled_one_is_not():
    x, _, u, groups = planted(seed=2)
    p = 1 / (1 + np.exp(-(x @ u)))
    found = probe(x, p, groups, classify=False)
    assert found is not None and found.metric == "r2" and found.value > 0.8
    shuffled = probe(x, np.random.default_rng(3).permutation(p), groups, classify=False)
    assert shuffled is not None and shuffled.value < 0.1


def test_no_probe_on_one_group_or_a_constant_label():
    x, y, _, groups = planted()
    assert probe(x, y, np.zeros(len(y)), classify=True) is None
    assert probe(x, np.ones(len(y)), groups, classify=True) is None
    assert mean_difference(x[:3], np.array([True, False, False])) is None


def test_layers_option():
    assert parse_layers("all", 4) == (0, 1, 2, 3)
    assert parse_layers("3,0-1,1", 30) == (0, 1, 3)
    for bad in ("30", "x", "2-x", "3-1"):
        with pytest.raises(UserError, match="--layers"):
            parse_layers(bad, 30)


def test_direction_files_and_the_steer_option(tmp_path):
    d = Direction(np.arange(4, dtype=np.float32), 7, "m", "bail")
    path = d.save(tmp_path / "bail-L7.npz")
    back = load_direction(path)
    assert back.layer == 7 and back.model_id == "m" and back.kind == "bail" and back.vector.tolist() == [0, 1, 2, 3]
    r = random_like(d, 5)
    assert r.norm == pytest.approx(d.norm, rel=1e-6) and r.kind == "random:5"
    assert random_like(d, 5).vector.tolist() == r.vector.tolist()
    s = parse_steer(f"{path}:3:-2.5")
    assert (s.layer, s.alpha, s.vector.tolist()) == (3, -2.5, [0, 1, 2, 3])
    assert check_steer(f"{path}:3:1") is None
    assert "names no file" in check_steer(f"{tmp_path}/none.npz:3:1")
    with pytest.raises(UserError, match="FILE:LAYER:ALPHA"):
        check_steer(f"{path}:x:1")


def test_a_direction_as_a_llama_cpp_control_vector(tmp_path):
    """The GGUF llama.cpp's --control-vector-scaled reads: architecture controlvector, the
    direction as float32 `direction.LAYER` (added at the end of that block); none for block 0."""
    gguf = pytest.importorskip("gguf")
    vec = np.linspace(-1, 1, 8, dtype=np.float32)
    path = Direction(vec, 7, "HuggingFaceTB/SmolLM2-135M-Instruct", "bail").save_control_vector(tmp_path / "b.gguf")
    reader = gguf.GGUFReader(str(path))
    field = reader.fields["general.architecture"]
    assert bytes(field.parts[field.data[0]]).decode() == "controlvector"
    hint = reader.fields["controlvector.model_hint"]
    assert bytes(hint.parts[hint.data[0]]).decode() == "HuggingFaceTB/SmolLM2-135M-Instruct"
    (tensor,) = reader.tensors
    assert tensor.name == "direction.7" and tensor.tensor_type == gguf.GGMLQuantizationType.F32
    assert np.asarray(tensor.data).tolist() == vec.tolist()
    assert Direction(vec, 0, "m", "bail").save_control_vector(tmp_path / "z.gguf") is None
    assert not (tmp_path / "z.gguf").exists()


def test_other_backends_refuse_steer(tmp_path):
    from bailbench.backends.registry import BackendOptions, load_backend

    path = Direction(np.zeros(4, np.float32), 0, "m", "bail").save(tmp_path / "d.npz")
    with pytest.raises(UserError, match="--steer does not apply to mock models"):
        load_backend("mock:p_bail=0.3", BackendOptions(steer=f"{path}:0:1"))


def test_a_steering_run_plans_its_controls(tmp_path):
    from bailbench.mechanism.controls import conditions

    d = Direction(np.arange(1, 5, dtype=np.float32), 7, "m", "bail")
    path = d.save(tmp_path / "bail-L7.npz")
    plan = conditions(f"{path}:3:-2.5", 30, tmp_path / "controls", seeds=(0, 4))
    assert [(c.name, c.steer) for c in plan] == [
        ("steered", f"{path}:3:-2.5"), ("unsteered", None),
        ("random:0", f"{tmp_path}/controls/random-0.npz:3:-2.5"),
        ("random:4", f"{tmp_path}/controls/random-4.npz:3:-2.5"), ("layer:18", f"{path}:18:-2.5")]
    for seed in (0, 4):  # same norm, seeded: a rerun steers with the same vectors and resumes
        r = load_direction(tmp_path / "controls" / f"random-{seed}.npz")
        assert r.norm == pytest.approx(d.norm, rel=1e-6) and r.kind == f"random:{seed}"
        assert r.vector.tolist() == random_like(d, seed).vector.tolist()
    assert conditions(f"{path}:20:1", 30, tmp_path / "c")[-1].name == "layer:5"  # half the depth away, wrapped
    with pytest.raises(UserError, match="--steer layer 30 is out of range"):
        conditions(f"{path}:30:1", 30, tmp_path / "c")


def test_the_continuations_ride_as_a_token_tree():
    """Two continuations sharing their first token and a third of one token: the context, then
    each trie node but the last tokens; each node sees the context and its own ancestors."""
    from bailbench.backends.token_trie import ancestry, depths
    from bailbench.mechanism.tail import _layout

    tokens, parents, reads = _layout([5, 6, 7], [[10, 11, 12], [10, 13, 14], [20]])
    assert (tokens, parents, depths(parents)) == ([5, 6, 7, 10, 11, 13], [-1, 0, 1, 2, 3, 3], [0, 1, 2, 3, 4, 4])
    assert reads == [(2, 10, 0), (3, 11, 0), (4, 12, 0), (2, 10, 1), (3, 13, 1), (5, 14, 1), (2, 20, 2)]
    assert ancestry(parents).astype(int).tolist() == [
        [1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 0, 1]]
    assert _layout([1, 2], []) == ([1, 2], [-1, 0], [])


def test_a_context_runs_as_one_token_tree():
    """The rollout and both checks of a context: one tree; the reply end read inside it where a
    check begins with the rollout's tokens, each check at its own last node."""
    from bailbench.backends.token_trie import ancestry, depths, packed_batch
    from bailbench.mechanism.sites import plan
    from bailbench.store import SampleRow

    fields = SampleRow.__dataclass_fields__

    def row(method, key, rendered, reply=""):
        values = {f: None for f in fields} | {"method": method, "key": key, "rendered": rendered, "reply": reply,
                                               "prompt_id": "p", "sample": 0, "ablation": "Baseline",
                                               "category": "c", "subcategory": "s"}
        return SampleRow(**values)

    rows = [row("prompt-bail-first", "b", "abcd<wellbeing>"), row("prompt-continue-first", "f", "abce<wellbeing>"),
            row("rollout", "r", "ab", "c")]  # as context_rows gives them
    codes = {"<wellbeing>": 9}

    def tokens(text):
        out = []
        while text:
            tag = next((t for t in codes if text.startswith(t)), None)
            out.append(codes[tag] if tag else ord(text[0]) - 96)
            text = text[len(tag) if tag else 1:]
        return out

    seq = plan(rows, tokens, set())
    assert (seq.tokens, seq.parents) == ([1, 2, 3, 4, 9, 5, 9], [-1, 0, 1, 2, 3, 2, 5])
    assert [(r.site, r.key, r.position) for r in seq.reads] == [
        ("decision", "b", 4), ("decision", "f", 4), ("reply_end", "r", 2)]
    assert seq.nodes == [4, 6, 2] and [depths(seq.parents)[n] for n in seq.nodes] == [4, 4, 2]
    assert ancestry(seq.parents)[6].astype(int).tolist() == [1, 1, 1, 0, 0, 1, 1]  # not the other check's tokens
    assert plan(rows, tokens, {("decision", "b"), ("decision", "f"), ("reply_end", "r")}) is None
    alone = plan(rows, tokens, {("decision", "b"), ("reply_end", "r")})
    assert (alone.tokens, alone.parents, alone.nodes) == ([1, 2, 3, 5, 9], [-1, 0, 1, 2, 3], [4])
    ids, pos, allowed, offsets = packed_batch([(seq.tokens, seq.parents), (alone.tokens, alone.parents)], pad=0)
    assert offsets == [0, 2] and ids[1].tolist() == [0, 0, 1, 2, 3, 5, 9] and pos[1].tolist() == [0, 0, 0, 1, 2, 3, 4]
    assert allowed[1, :2].astype(int).tolist() == [[1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0]]  # padding: itself


# -- on the real model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf():
    pytest.importorskip("torch")
    from bailbench.backends.registry import BackendOptions, load_backend

    return load_backend("hf:smollm2", BackendOptions(n_ctx=2048, batch_size=4))


@pytest.fixture(scope="module")
def run_dir(hf, tmp_path_factory):
    from bailbench.runner import RunConfig, run

    out = tmp_path_factory.mktemp("mech") / "run"
    run(RunConfig(model="hf:smollm2", methods=("prompt-bail-first", "prompt-continue-first"), limit=4, samples=1,
                  max_tokens=8, out=out), backend=hf)
    return out


def rows_of(run_dir):
    from bailbench.store import SampleRow, Store

    store = Store(run_dir, create=False)
    try:
        return {r[0]: SampleRow(*r) for r in store.db.execute(f"SELECT {store.select} FROM samples")}
    finally:
        store.close()


@pytest.mark.model
def test_stored_activations_equal_a_direct_forward_pass_and_resume(hf, run_dir):
    import torch

    from bailbench.mechanism.activations import INDEX, Folder, compute_activations

    done = compute_activations(run_dir, hf, "0,5,20", shard_reads=2)
    assert (done.new_reads, done.reused_reads, done.layers) == (12, 0, (0, 5, 20))  # 4 reply ends, 8 checks
    index = run_dir / "activations" / INDEX
    whole = index.read_text().splitlines()
    index.write_text("\n".join(whole[:4]) + "\n" + whole[4][:10])  # killed mid-line: a shard (a context) and 1 read kept
    again = compute_activations(run_dir, hf, "0,5,20", shard_reads=2)
    assert (again.new_reads, again.reused_reads) == (8, 4)
    assert compute_activations(run_dir, hf, "0,5,20").new_reads == 0
    with pytest.raises(UserError, match="pass the same --layers"):
        compute_activations(run_dir, hf, "3")

    rows, folder = rows_of(run_dir), Folder(run_dir / "activations")
    stored = {site: [folder.layer(site, layer) for layer in (0, 5, 20)] for site in ("reply_end", "decision")}
    for site, layers in stored.items():
        entries = layers[0][0]
        assert len(entries) == len({e["key"] for e in entries}) == (4 if site == "reply_end" else 8)
        for i, e in enumerate(entries):
            row = rows[e["key"]]
            ids = torch.tensor([hf.tokens(row.rendered + row.reply if site == "reply_end" else row.rendered)])
            assert e["position"] == ids.shape[1] - 1
            with torch.inference_mode():
                direct = hf.model(input_ids=ids, output_hidden_states=True).hidden_states
            for layer, (_, x) in zip((0, 5, 20), layers):
                np.testing.assert_allclose(x[i], direct[layer + 1][0, -1].numpy().astype(np.float16), rtol=2e-3,
                                           atol=2e-3)


@pytest.mark.model
def test_probe_writes_directions_and_steering_with_alpha_0_changes_nothing(hf, run_dir):
    from bailbench.mechanism.activations import compute_activations
    from bailbench.mechanism.probing import probe_run
    from bailbench.mechanism.steer import sweep

    compute_activations(run_dir, hf, "0,5,20")  # stored already when the test above ran
    result = probe_run(run_dir)
    assert [d.layer for d in result.directions] == [0, 5, 20]
    path = run_dir / "probe" / "bail-L5.npz"
    d = load_direction(path)
    assert d.layer == 5 and d.model_id == hf.model_id and d.vector.shape == (576,)
    rows = [r for r in rows_of(run_dir).values() if r.method == "prompt-bail-first"]
    texts = [r.rendered for r in rows][:2]
    hf.set_steering(None)  # drops the run's kept KV: every reading below is a cold one
    plain = [s.logprobs for s in hf.score_rendered(texts, ["🔄", "🟢"])]
    assert [r.p_bail for r in rows[:2]] == pytest.approx([np.exp(a) / (np.exp(a) + np.exp(b)) for a, b in plain], abs=1e-4)
    hf.set_steering(parse_steer(f"{path}:5:0"))
    assert [s.logprobs for s in hf.score_rendered(texts, ["🔄", "🟢"])] == plain  # exactly
    assert hf.identity()["steer"]["alpha"] == 0.0
    hf.set_steering(parse_steer(f"{path}:5:8"))
    assert [s.logprobs for s in hf.score_rendered(texts, ["🔄", "🟢"])] != plain
    hf.set_steering(None)
    assert "steer" not in hf.identity()

    s = sweep(hf, run_dir, path, alphas=(0, 8), seeds=(0, 1), neutral=["Hi there."], control_layer=20, limit=2)
    assert s.contexts == 2
    assert [(c.alpha, c.name, c.layer) for c in s.conditions] == [
        (a, n, layer) for a in (0, 8) for n, layer in
        (("direction", 5), ("random:0", 5), ("random:1", 5), ("direction@20", 20))]
    for c in s.conditions[:4]:  # alpha 0: every condition is the unsteered model
        assert (c.delta_p_bail.mean, c.delta_p_bail.low, c.delta_p_bail.high, c.kl_neutral) == (0, 0, 0, 0)
    assert all(c.kl_neutral is not None and c.kl_neutral > 0 for c in s.conditions[4:])
    assert s.conditions[4].excess is not None and s.conditions[5].excess is None
    shifts = [c.delta_p_bail.mean for c in s.conditions[5:7]]
    assert s.conditions[4].random_range == (min(shifts), max(shifts)) and s.conditions[5].random_range is None


@pytest.mark.model
def test_the_tail_from_the_cached_residual_equals_the_steering_hook(hf, run_dir):
    from bailbench.mechanism.directions import Steering
    from bailbench.mechanism.tail import TailScorer

    texts = [r.rendered + "<wellbeing>" for r in rows_of(run_dir).values() if r.method == "prompt-bail-first"][:3]
    texts.append("<|im_start|>user\nHi<|im_end|>\n")  # another length: rows are padded
    hf.set_steering(None)
    scorer = TailScorer(hf, texts, ["🔄", "🟢"], (5, 20), batch=2)
    assert scorer.exact  # checked against the full pass and the backend's own scoring
    v = np.random.default_rng(0).standard_normal(576).astype(np.float32)
    for layer in (5, 20, 11):  # 11: not kept, read the slow way
        steering = Steering(v / np.linalg.norm(v), layer, 4.0)
        fast, fast_next = scorer.read(steering)
        hf.set_steering(steering)
        slow = np.array([s.logprobs for s in hf.score_rendered(texts, ["🔄", "🟢"])])
        slow_next = hf.next_token_logprobs(texts)
        hf.set_steering(None)
        np.testing.assert_allclose(fast, slow, atol=2e-4, rtol=0)
        np.testing.assert_allclose(fast_next, slow_next, atol=2e-4, rtol=0)
        assert np.abs(fast - scorer.base).max() > 1e-2  # the steering moved them
    assert scorer.read(Steering(v, 5, 0.0))[0] is scorer.base  # alpha 0: the unsteered reading itself


def test_commands_say_in_one_line_what_they_cannot_do(tmp_path):
    import typer
    from typer.testing import CliRunner

    from bailbench.cli import Commands
    from bailbench.mechanism.command import register
    from bailbench.runner import RunConfig, run

    app = typer.Typer(cls=Commands)
    register(app)
    out = tmp_path / "run"
    run(RunConfig(model="mock:p_bail=0.3", methods=("prompt-bail-first",), limit=2, samples=1, out=out))
    for args, said in ((["activations", str(out)], "was run with mock:p_bail=0.3, whose activations transformers "
                                                      "cannot compute; pass --model hf:NAME"),
                       (["activations", str(out), "--model", "mock:p_bail=0.3"], "mock:p_bail=0.3 cannot give "
                                                                                 "activations: use the transformers"),
                       (["probe", str(out)], "has no activations: run `bailbench activations"),
                       (["steer", str(out), "--direction", str(out / "d.npz"), "--alphas", "1,x"], "--alphas '1,x'")):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2, res.output
        assert said in res.output and len(res.output.strip().splitlines()) == 1


@pytest.mark.model
def test_a_steered_run_runs_and_reports_its_controls(hf, tmp_path):
    from rich.console import Console

    from bailbench.backends.registry import BackendOptions
    from bailbench.mechanism.command import guardrail_line, steering_table
    from bailbench.runner import RunConfig, run
    from bailbench.store import read_summary

    v = np.random.default_rng(5).standard_normal(576).astype(np.float32)
    path = Direction(v / np.linalg.norm(v), 5, hf.model_id, "bail").save(tmp_path / "d.npz")
    cfg = RunConfig(model="hf:smollm2", methods=("prompt-bail-first",), limit=2, samples=1, max_tokens=4,
                    refusal_classifier="heuristic", out=tmp_path / "run", options=BackendOptions(steer=f"{path}:5:6"))
    hf.set_steering(None)
    block = run(cfg, backend=hf).summary["steering"]
    assert hf.steering is not None and hf.steering.alpha == 6  # a lent backend is handed back steered as the run
    names = ["steered", "unsteered", "random:0", "random:1", "random:2", "layer:20"]
    assert list(block["conditions"]) == names
    rates = {}
    for name, c in block["conditions"].items():
        own = read_summary(tmp_path / "run" if name == "steered" else tmp_path / "run" / "controls" /
                           name.replace(":", "-"))
        assert own["n_prompts"] == 2 and c["methods"]["prompt-bail-first"]["bail_rate"] == \
            own["methods"]["prompt-bail-first"]["bail_rate"]
        rates[name] = own["methods"]["prompt-bail-first"]["bail_rate"]
        assert c["refusal_rate"] == own["refusal"]["mean_p_refusal"]
        assert 0 <= c["symbol_mass"]["prompt-bail-first"] <= 1
    assert block["conditions"]["unsteered"]["kl_neutral"] == 0
    assert all(block["conditions"][n]["kl_neutral"] > 0 for n in names if n != "unsteered")
    effects = {(e["condition"], e["minus"]): e for e in block["effects"]}
    assert list(effects) == [("steered", n) for n in names[1:]] + [(n, "unsteered") for n in names[2:]]
    for (a, b), e in effects.items():  # paired over the same prompts: the difference of the two rates
        d = e["methods"]["prompt-bail-first"]
        assert d["difference"] == pytest.approx(rates[a] - rates[b], abs=2e-6) and d["ci_low"] <= d["ci_high"]
        assert e["refusal"]["classifier"] == "heuristic"
    again = run(cfg, backend=hf)  # a rerun resumes every run: nothing is sampled again
    assert again.summary["new_samples"] == 0 and again.summary["steering"]["conditions"] == block["conditions"]
    assert read_summary(tmp_path / "run" / "controls" / "random-1")["new_samples"] == 0
    console = Console(width=200, record=True)
    console.print(steering_table(block))
    console.print(guardrail_line(block))
    text = console.export_text()
    assert "steering at layer 5, alpha 6" in text and "random:2" in text and "KL neutral" in text


def test_steering_is_refused_where_no_controls_run(tmp_path):
    """Real data and simulated users run no controls, so a steered number there would stand alone."""
    from bailbench import api

    path = Direction(np.zeros(4, np.float32), 0, "m", "bail").save(tmp_path / "d.npz")
    for job, kw in ((api.realdata, {"dataset": "sharegpt"}), (api.simulate, {})):
        with pytest.raises(UserError, match="--steer runs with its controls on `bailbench run` only"):
            job(model="mock:p_bail=0.3", steer=f"{path}:0:1", out=str(tmp_path / job.__name__), **kw)


def test_an_unwritable_cache_is_one_line(tmp_path, monkeypatch):
    """The GGUF conversion says where it cannot write, before it spends time de-quantizing."""
    from bailbench.backends.embedded import embedded_gguf
    from bailbench.backends.gguf_convert import convert_gguf

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("BAILBENCH_CACHE_DIR", str(blocked))
    with pytest.raises(UserError, match="cannot write the converted model to .*BAILBENCH_CACHE_DIR"):
        convert_gguf(embedded_gguf())
