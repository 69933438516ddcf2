"""Cost of reading the bail prompt: one logprob scoring pass against 10 sampled answers.

Same backend, same contexts (BailBench prompts, each followed by the model's own reply
and the well-being check). Prints seconds per context for each way and their ratio
(DESIGN target: logprob at least 20x cheaper than 10-sample mode), plus the shared-prefix
scorer against a naive one that evaluates the prefix once per symbol.

    python benchmarks/bail_prompt_cost.py [--model smollm2] [--contexts 6] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import time

from bailbench.backends.base import GenerationRequest
from bailbench.backends.registry import BackendOptions, load_backend
from bailbench.chat.types import Chat
from bailbench.datasets.records import stratified
from bailbench.datasets.registry import load_dataset
from bailbench.methods.prompt import bail_prompt_chat
from bailbench.methods.wordings import bail_symbol, continue_symbol


def cold(backend) -> None:
    """Forget the KV cache so each measurement pays for its own prefix."""
    backend.llm.n_tokens = 0
    backend._exact = 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--contexts", type=int, default=6)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--max-tokens", type=int, default=256, help="limit for each sampled answer")
    args = ap.parse_args()

    backend = load_backend(args.model, BackendOptions(n_ctx=4096))
    prompts = stratified(load_dataset("bailbench").prompts, args.contexts)
    symbols = [bail_symbol(), continue_symbol()]
    contexts = []
    for i, p in enumerate(prompts):
        reply = backend.generate([GenerationRequest(Chat(p.messages), seed=i, temperature=1.0, max_tokens=128)])[0].text
        contexts.append((p.messages, reply))

    t_logprob = t_naive = t_sample = 0.0
    sampled_tokens = 0
    for messages, reply in contexts:
        scored = bail_prompt_chat(messages, reply, "prompt-bail-first", "Baseline", forced_tag=True)
        cold(backend)
        start = time.perf_counter()
        backend.score([scored], symbols)
        t_logprob += time.perf_counter() - start

        start = time.perf_counter()
        for sym in symbols:  # naive: the whole prefix again for every symbol
            cold(backend)
            backend.score([scored], [sym])
        t_naive += time.perf_counter() - start

        asked = bail_prompt_chat(messages, reply, "prompt-bail-first", "Baseline", forced_tag=False)
        cold(backend)
        start = time.perf_counter()
        gens = backend.generate([GenerationRequest(asked, seed=s, temperature=1.0, max_tokens=args.max_tokens)
                                 for s in range(args.samples)])
        t_sample += time.perf_counter() - start
        sampled_tokens += sum(g.completion_tokens for g in gens)

    n = len(contexts)
    print(f"backend: {backend.spec} ({backend.model_id}); {n} contexts")
    print(f"logprob, shared prefix : {t_logprob / n:8.3f} s/context")
    print(f"logprob, naive 2-pass  : {t_naive / n:8.3f} s/context")
    print(f"sample x{args.samples:<2}           : {t_sample / n:8.3f} s/context "
          f"({sampled_tokens / (n * args.samples):.0f} tokens per answer, max {args.max_tokens})")
    print(f"ratio sample/logprob   : {t_sample / t_logprob:8.1f}x  (target >= 20x)")
    print(f"ratio naive/shared     : {t_naive / t_logprob:8.2f}x")
    print("batched vs one-at-a-time generation: see benchmarks/llamacpp_speed.py")


if __name__ == "__main__":
    main()
