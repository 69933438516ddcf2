"""Throughput of the backends that batch or run requests concurrently.

- hf: the same generation requests batched against one at a time (same seeds, same replies);
  and the bail-prompt check (both orders) after those replies, continuing from the replies'
  KV cache against a cold evaluation of each whole context (same log-probabilities).
- openai: the same requests at concurrency 1 against 16, to llama.cpp's OpenAI-compatible
  server on loopback, directly and through a proxy adding 250 ms per request (a network
  round trip; llama.cpp's server itself runs one request at a time).

    python benchmarks/backend_throughput.py [--what hf|openai|all] [--requests 16] [--max-tokens 48]
Run from the repository root (it borrows the loopback servers of the tests).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bailbench.backends.base import GenerationRequest  # noqa: E402
from bailbench.backends.registry import BackendOptions, embedded_gguf, load_backend  # noqa: E402
from bailbench.chat.types import Chat  # noqa: E402
from bailbench.datasets.records import stratified  # noqa: E402
from bailbench.datasets.registry import load_dataset  # noqa: E402
from bailbench.methods import PROMPT_METHODS  # noqa: E402
from bailbench.methods.prompt import bail_prompt_chat  # noqa: E402
from bailbench.methods.wordings import bail_symbol, continue_symbol  # noqa: E402


def work(n: int, max_tokens: int) -> list[GenerationRequest]:
    prompts = stratified(load_dataset("bailbench").prompts, n)
    return [GenerationRequest(Chat(p.messages), seed=i, temperature=1.0, max_tokens=max_tokens)
            for i, p in enumerate(prompts)]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_hf(args) -> None:
    backend = load_backend(args.hf_model, BackendOptions(n_ctx=4096, batch_size=args.requests))
    reqs = work(args.requests, args.max_tokens)
    backend.generate(reqs[:2])  # warm up
    t_batch, batched = timed(lambda: backend.generate(reqs))
    t_single, single = timed(lambda: [backend.generate([r])[0] for r in reqs])
    tokens = sum(g.completion_tokens for g in batched)
    same = sum(a.text == b.text for a, b in zip(batched, single))
    print(f"hf ({backend.model_id}, {backend.device}): {len(reqs)} requests, {tokens} tokens")
    print(f"  batched       : {t_batch:7.2f} s  ({tokens / t_batch:7.1f} tokens/s)")
    print(f"  one at a time : {t_single:7.2f} s  ({tokens / t_single:7.1f} tokens/s)")
    print(f"  ratio         : {t_single / t_batch:7.2f}x   (identical replies: {same}/{len(reqs)})")
    chats = [bail_prompt_chat(r.chat.messages, g.text, m, "Baseline", forced_tag=True)
             for r, g in zip(reqs, single) for m in PROMPT_METHODS]
    symbols = [bail_symbol(), continue_symbol()]
    backend.generate(reqs)  # the replies' KV, as the runner leaves it before the checks
    t_warm, warm = timed(lambda: backend.score(chats, symbols))
    backend._kept = []
    t_cold, cold = timed(lambda: backend.score(chats, symbols))
    diff = max(abs(a - b) for w, c in zip(warm, cold) for a, b in zip(w.logprobs, c.logprobs))
    print(f"  check, cold   : {t_cold:7.2f} s for {len(chats)} checks")
    print(f"  check, warm   : {t_warm:7.2f} s ({t_warm / t_cold:5.2f} of cold; max |d logprob| {diff:.1e})")


def bench_openai(args) -> None:
    from tests.servers import FaultProxy, LlamaServer

    from bailbench.backends.openai_api import OpenAIBackend

    server = LlamaServer(embedded_gguf())
    try:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        proxy = FaultProxy(port, faults=("pass",), latency=0.25)
        reqs = work(args.requests, args.max_tokens)
        for label, url in (("direct", server.url), ("+250 ms latency", proxy.url)):
            times = {}
            for c in (1, 16):
                backend = OpenAIBackend("SmolLM2-135M", spec="openai:SmolLM2-135M", base_url=url, concurrency=c,
                                        cache=False)
                times[c], _ = timed(lambda: backend.generate(reqs))
            print(f"openai ({label}): {len(reqs)} requests  concurrency 1: {times[1]:6.2f} s  "
                  f"concurrency 16: {times[16]:6.2f} s  ratio {times[1] / times[16]:5.2f}x")
        proxy.stop()
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--what", choices=("hf", "openai", "all"), default="all")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--hf-model", default=None, help="hf:REPO_OR_PATH [the embedded GGUF through transformers]")
    args = ap.parse_args()
    args.hf_model = args.hf_model or f"hf:{embedded_gguf()}"
    if args.what in ("hf", "all"):
        bench_hf(args)
    if args.what in ("openai", "all"):
        bench_openai(args)


if __name__ == "__main__":
    main()
