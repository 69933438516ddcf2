"""On a GPU machine: vLLM against transformers on the same model and the same work.

The work is a BailBench slice: rollouts (prompts x samples) and the bail prompt scored
after each. Each backend runs in its own process so the two do not share GPU memory.
Prints seconds and tokens/s for each and the ratio (DESIGN target: vLLM >= 10x).

    python benchmarks/gpu_vllm_vs_hf.py --model Qwen/Qwen2.5-0.5B-Instruct [--prompts 64 --samples 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def one(backend_spec: str, args) -> dict:
    from bailbench.backends.base import GenerationRequest
    from bailbench.backends.registry import BackendOptions, load_backend
    from bailbench.chat.types import Chat
    from bailbench.datasets.records import stratified
    from bailbench.datasets.registry import load_dataset
    from bailbench.methods.prompt import bail_prompt_chat

    backend = load_backend(backend_spec, BackendOptions(n_ctx=4096, batch_size=args.batch_size))
    prompts = stratified(load_dataset(args.dataset).prompts, args.prompts)
    reqs = [GenerationRequest(Chat(p.messages), seed=i * 100 + s, temperature=1.0, max_tokens=args.max_tokens)
            for i, p in enumerate(prompts) for s in range(args.samples)]
    backend.generate(reqs[:2])  # warm up (compilation, CUDA graphs)
    start = time.perf_counter()
    gens = backend.generate(reqs)
    t_gen = time.perf_counter() - start
    chats = [bail_prompt_chat(r.chat.messages, g.text, "prompt-bail-first", "Baseline", forced_tag=True)
             for r, g in zip(reqs, gens)]
    start = time.perf_counter()
    backend.score(chats, ["🔄", "🟢"])
    t_score = time.perf_counter() - start
    return {"backend": backend_spec, "requests": len(reqs), "tokens": sum(g.completion_tokens for g in gens),
            "generate_s": t_gen, "score_s": t_score}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct")
    ap.add_argument("--dataset", default="bailbench")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64, help="hf sequences per forward pass")
    ap.add_argument("--only", choices=("hf", "vllm"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only:
        print(json.dumps(one(f"{args.only}:{args.model}", args)))
        return
    results = {}
    for which in ("hf", "vllm"):
        cmd = [sys.executable, __file__, "--only", which] + sys.argv[1:]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{which}: failed\n{proc.stderr[-2000:]}")
            continue
        results[which] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[which]
        print(f"{which:5}: {r['requests']} requests, {r['tokens']} tokens, generate {r['generate_s']:.1f} s "
              f"({r['tokens'] / r['generate_s']:.0f} tokens/s), score {r['score_s']:.1f} s")
    if len(results) == 2:
        hf, vl = results["hf"], results["vllm"]
        total = lambda r: r["generate_s"] + r["score_s"]  # noqa: E731
        print(f"vLLM / hf speed-up: {total(hf) / total(vl):.1f}x overall "
              f"(generate {hf['generate_s'] / vl['generate_s']:.1f}x, score {hf['score_s'] / vl['score_s']:.1f}x)")


if __name__ == "__main__":
    main()
