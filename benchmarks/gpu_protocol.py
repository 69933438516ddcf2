"""On a GPU machine: the paper's BailBench protocol on vLLM for a 7-8B model shape, in GPU-hours.

Nothing to download: the model is a config of the shape asked for (Llama-3-8B's by default)
with random weights made on the GPU (vLLM's `load_format="dummy"`) and the embedded
SmolLM2 tokenizer (taken from its converted folder, backends/gguf_convert.py), so the
vocabulary is SmolLM2's 49,152 tokens rather than Llama 3's 128,256 (a smaller output
layer: about 4% of an 8B model's compute). A slice of BailBench runs through bailbench's
own vLLM backend exactly as a run does: wave 1 the rollout, tool and string requests of
every (prompt, sample), wave 2 the two sampled bail-prompt checks after each rollout.
Random weights seldom write an end-of-sequence token, so nearly every reply runs to
`--max-tokens`: the projection is an upper bound on the real protocol's time.

Prints samples/s, generated tokens/s and the projected GPU-hours of the full protocol
(1630 prompts x 10 samples x 4 methods, plus the rollouts the checks follow), and writes
them as JSON to `--out`. DESIGN target: under one hour on one H100-class GPU.

    python benchmarks/gpu_protocol.py [--prompts 160 --samples 10 --max-tokens 2000 --out gpu_protocol.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

FULL_PROMPTS = 1630  # BailBench
SHAPES = {  # config.json fields of the model shapes on offer
    "llama3-8b": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
                  "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
                  "num_key_value_heads": 8, "max_position_embeddings": 8192, "rope_theta": 500000.0,
                  "rms_norm_eps": 1e-5, "hidden_act": "silu", "tie_word_embeddings": False},
    "qwen2.5-7b": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584,
                   "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
                   "num_key_value_heads": 4, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
                   "rms_norm_eps": 1e-6, "hidden_act": "silu", "tie_word_embeddings": False},
}


@dataclass(frozen=True)
class Measured:
    shape: str
    gpu: str
    prompts: int
    samples: int
    max_tokens: int
    generations: int  # requests answered in the slice (rollout, tool, string, two checks per sample)
    generated_tokens: int
    seconds: float
    samples_per_s: float  # protocol samples (one per method, rollouts not counted) per second
    tokens_per_s: float
    projected_gpu_hours: float  # the full protocol on this GPU, extrapolated linearly from the slice


def random_model(shape: str, out: Path) -> Path:
    """A folder vLLM loads with load_format="dummy": the shape's config and the embedded tokenizer."""
    from bailbench.backends.embedded import embedded_gguf
    from bailbench.backends.gguf_convert import DONE, convert_gguf

    smol = convert_gguf(embedded_gguf())
    out.mkdir(parents=True, exist_ok=True)
    for f in smol.iterdir():
        if f.is_file() and not f.name.endswith(".safetensors") and f.name not in ("config.json", DONE):
            shutil.copy2(f, out / f.name)
    own = json.loads((smol / "config.json").read_text("utf-8"))
    config = SHAPES[shape] | {k: own[k] for k in ("vocab_size", "bos_token_id", "eos_token_id")} | {
        "torch_dtype": "bfloat16"}
    (out / "config.json").write_text(json.dumps(config, indent=1), "utf-8")
    return out


def measure(args) -> Measured:
    import torch
    import vllm

    from bailbench.backends.base import GenerationRequest
    from bailbench.backends.vllm_offline import VLLMBackend
    from bailbench.chat.types import Chat
    from bailbench.datasets.records import stratified
    from bailbench.datasets.registry import load_dataset
    from bailbench.methods import BAIL_FIRST, CONTINUE_FIRST
    from bailbench.methods.prompt import bail_prompt_chat
    from bailbench.methods.string import string_chat
    from bailbench.methods.tool import tool_chat

    folder = random_model(args.shape, Path(args.workdir) / args.shape)
    real_llm = vllm.LLM
    vllm.LLM = lambda **kw: real_llm(load_format="dummy", **kw)  # random weights: the backend takes no such flag
    try:
        backend = VLLMBackend(str(folder), spec=f"vllm:{folder}", n_ctx=args.n_ctx, dtype="bfloat16",
                              batch_size=args.prompts * args.samples)
    finally:
        vllm.LLM = real_llm
    prompts = stratified(load_dataset("bailbench").prompts, args.prompts)
    req = lambda chat, seed: GenerationRequest(chat, seed=seed, temperature=1.0, max_tokens=args.max_tokens)  # noqa: E731
    seeds = [(p, i * 1000 + s) for i, p in enumerate(prompts) for s in range(args.samples)]
    backend.generate([req(Chat(prompts[0].messages), 0)])  # warm up (CUDA graphs, compilation)

    start = time.perf_counter()
    wave1 = [req(c, seed) for p, seed in seeds for c in (
        Chat(p.messages), tool_chat(p.messages, "Baseline", "Llama"), string_chat(p.messages, "Baseline", "Llama"))]
    gens = backend.generate(wave1)
    rollouts = gens[0::3]
    wave2 = [req(bail_prompt_chat(p.messages, g.text, m, "Baseline", forced_tag=False), seed)
             for (p, seed), g in zip(seeds, rollouts) for m in (BAIL_FIRST, CONTINUE_FIRST)]
    gens += backend.generate(wave2)
    seconds = time.perf_counter() - start
    backend.close()

    tokens = sum(g.completion_tokens for g in gens)
    protocol_samples = len(seeds) * 4
    return Measured(shape=args.shape, gpu=torch.cuda.get_device_name(0), prompts=len(prompts),
                    samples=args.samples, max_tokens=args.max_tokens, generations=len(gens),
                    generated_tokens=tokens, seconds=round(seconds, 1),
                    samples_per_s=round(protocol_samples / seconds, 2), tokens_per_s=round(tokens / seconds),
                    projected_gpu_hours=round(seconds * FULL_PROMPTS / len(prompts) / 3600, 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="Needs a CUDA GPU and `pip install vllm`; see the module docstring.")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="llama3-8b", help="model shape [llama3-8b]")
    ap.add_argument("--prompts", type=int, default=160, help="BailBench prompts in the slice, stratified [160]")
    ap.add_argument("--samples", type=int, default=10, help="samples per prompt and method [10]")
    ap.add_argument("--max-tokens", type=int, default=2000, help="new tokens per reply [2000]")
    ap.add_argument("--n-ctx", type=int, default=8192, help="context window [8192]")
    ap.add_argument("--workdir", default="gpu_protocol_model", help="where the random model's folder goes")
    ap.add_argument("--out", default="gpu_protocol.json", help="the measurement as JSON [gpu_protocol.json]")
    args = ap.parse_args()
    m = measure(args)
    print(f"{m.gpu}, {m.shape} (random weights): {m.generations} generations, {m.generated_tokens} tokens in "
          f"{m.seconds:.0f} s: {m.samples_per_s} samples/s, {m.tokens_per_s} generated tokens/s")
    print(f"projected full protocol ({FULL_PROMPTS} prompts x {m.samples} samples x 4 methods, "
          f"{m.max_tokens} tokens): {m.projected_gpu_hours:.2f} GPU-hours (target: under 1)")
    Path(args.out).write_text(json.dumps(asdict(m), indent=1) + "\n", "utf-8")


if __name__ == "__main__":
    main()
