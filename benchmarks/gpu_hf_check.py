"""GPU check of the transformers backend where no weights can be downloaded.

Builds a model with SmolLM2-135M's architecture and tokenizer but random weights (the
code paths and the cost are those of the real model; the replies are noise), then on
the GPU: batched against one-at-a-time generation (speed, identical replies), scoring,
and a whole run through the runner.

    python benchmarks/gpu_hf_check.py CONFIG_DIR [--requests 64] [--max-tokens 128]
CONFIG_DIR holds config.json and the tokenizer files (e.g. saved from the embedded GGUF).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config_dir")
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=128)
    args = ap.parse_args()

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from bailbench.backends.base import GenerationRequest
    from bailbench.backends.registry import BackendOptions, load_backend
    from bailbench.chat.types import Chat
    from bailbench.datasets.records import stratified
    from bailbench.datasets.registry import load_dataset
    from bailbench.methods.prompt import bail_prompt_chat
    from bailbench.runner import RunConfig, run

    folder = Path(tempfile.mkdtemp()) / "smollm2-random"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(args.config_dir))
    model.to(torch.bfloat16).save_pretrained(folder)
    AutoTokenizer.from_pretrained(args.config_dir).save_pretrained(folder)
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'}")

    backend = load_backend(f"hf:{folder}", BackendOptions(n_ctx=2048, batch_size=args.requests))
    prompts = stratified(load_dataset("bailbench").prompts, args.requests)
    reqs = [GenerationRequest(Chat(p.messages), seed=i, temperature=1.0, max_tokens=args.max_tokens)
            for i, p in enumerate(prompts)]
    backend.generate(reqs[:2])
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)

    def timed(fn):
        sync()
        start = time.perf_counter()
        out = fn()
        sync()
        return time.perf_counter() - start, out

    t_b, batched = timed(lambda: backend.generate(reqs))
    t_s, single = timed(lambda: [backend.generate([r])[0] for r in reqs[:8]])
    t_s *= len(reqs) / 8  # one at a time is measured on 8 requests and scaled
    tokens = sum(g.completion_tokens for g in batched)
    same = sum(a.text == b.text for a, b in zip(batched[:8], single))
    print(f"generate: batched {t_b:.2f} s ({tokens / t_b:.0f} tokens/s) vs one at a time ~{t_s:.2f} s: "
          f"{t_s / t_b:.1f}x; identical replies {same}/8")
    chats = [bail_prompt_chat(r.chat.messages, g.text, "prompt-bail-first", "Baseline", forced_tag=True)
             for r, g in zip(reqs, batched)]
    t_sc, scores = timed(lambda: backend.score(chats, ["🔄", "🟢"]))
    alone = backend.score(chats[:4], ["🔄"])
    diff = max(abs(a.logprobs[0] - b.logprobs[0]) for a, b in zip(scores[:4], alone))
    print(f"score: {len(chats)} contexts in {t_sc:.2f} s; shared-prefix vs alone max |diff| {diff:.4f} nats")
    res = run(RunConfig(model=f"hf:{folder}", limit=14, samples=2, max_tokens=32, model_name="SmolLM",
                        out=Path(tempfile.mkdtemp()), options=BackendOptions(n_ctx=2048)))
    print("run:", {m: (v["n"], v["bail_rate"]) for m, v in res.summary["methods"].items()},
          "new", res.summary["new_samples"])


if __name__ == "__main__":
    main()
