"""llama.cpp: batched multi-sequence generation and the bail-prompt check, against one at a time.

Prints, from one run on one machine (compare the ratios, not the absolute numbers):
1. tokens/s generating the same requests one sequence at a time (--batch-size 1) and
   batched, for each batch size in --batch-sizes;
2. the wall time of `bailbench run` (quick settings unless narrowed with --limit,
   --samples, --max-tokens) with --batch-size 1 and every check scored cold, against the
   default backend (target: at least 3x);
3. a bail-prompt check's cost as a fraction of a cold evaluation of its whole context:
   the default (exact) scorer after the rollout, and the `reuse_reply` scorer that
   continues from the rollout's KV.

    python benchmarks/llamacpp_speed.py [--requests 16] [--max-tokens 64] [--batch-sizes 2,4,8,16]
                                        [--limit 14] [--samples 2] [--run-max-tokens 256] [--skip-run] [--threads N]
Run from the repository root with BAILBENCH_DATA_DIR set (as `make` does).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bailbench.backends.base import GenerationRequest
from bailbench.backends.llamacpp import DEFAULT_BATCH_SIZE, LlamaCppBackend
from bailbench.backends.registry import embedded_gguf
from bailbench.chat.types import Chat
from bailbench.datasets.records import stratified
from bailbench.datasets.registry import load_dataset
from bailbench.methods.prompt import bail_prompt_chat
from bailbench.methods.wordings import bail_symbol, continue_symbol
from bailbench.runner import QUICK, RunConfig, run

THREADS = None


def backend(**kw) -> LlamaCppBackend:
    return LlamaCppBackend(embedded_gguf(), spec="smollm2", n_threads=THREADS, **kw)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def cpu_timed(fn):
    """Wall and CPU seconds: on a shared machine the CPU seconds are the fairer comparison."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


def generation(args, prompts) -> None:
    reqs = [GenerationRequest(Chat(p.messages), seed=i, temperature=1.0, max_tokens=args.max_tokens)
            for i, p in enumerate(prompts)]
    print(f"1. generation: {len(reqs)} requests, up to {args.max_tokens} tokens each")
    base = None
    for b in [1] + args.batch_sizes:
        be = backend(batch_size=b)
        be.generate(reqs[:1])  # warm up
        t, cpu, gens = cpu_timed(lambda: be.generate(reqs))
        tokens = sum(g.completion_tokens for g in gens)
        base = base or (tokens / t, tokens / cpu)
        print(f"   batch {b:3d}: {t:7.2f} s  {tokens:5d} tokens  {tokens / t:7.1f} tokens/s "
              f"({tokens / t / base[0]:5.2f}x)  {tokens / cpu:7.1f} tokens per CPU-second "
              f"({tokens / cpu / base[1]:5.2f}x one at a time)")


def quick_run(args) -> None:
    sizes = dict(limit=args.limit, samples=args.samples, max_tokens=args.run_max_tokens)
    print(f"2. bailbench run {sizes} (quick is {QUICK})")
    times = {}
    for label, kw in (("--batch-size 1, cold check", dict(batch_size=1, kv_reuse=False)),
                      (f"default (batch {DEFAULT_BATCH_SIZE})", {})):
        with tempfile.TemporaryDirectory() as d:
            be = backend(**kw)
            t, cpu, res = cpu_timed(lambda: run(RunConfig(out=Path(d) / "run", **sizes), backend=be))
            times[label] = (t, cpu)
            n = res.summary["new_samples"]
            print(f"   {label:28s}: {t:7.1f} s ({cpu:7.1f} CPU-s)  {n} units  {n / t:5.2f} units/s")
    (a, ac), (b, bc) = times.values()
    print(f"   speed-up: {a / b:5.2f}x wall, {ac / bc:5.2f}x CPU  (target >= 3x)")


def check_cost(args, prompts) -> None:
    print(f"3. bail-prompt check (both orders) after the rollout, {len(prompts)} contexts")
    rows = {}
    for label, kw in (("cold, whole context", dict(batch_size=1, kv_reuse=False)),
                      ("default (exact)", {}), ("reuse_reply", dict(reuse_reply=True))):  # CPU seconds
        be = backend(**kw)
        total = 0.0
        for i, p in enumerate(prompts):
            reply = be.generate([GenerationRequest(Chat(p.messages), seed=i, temperature=1.0,
                                                   max_tokens=args.run_max_tokens)])[0].text
            chats = [bail_prompt_chat(p.messages, reply, m, "Baseline", forced_tag=True)
                     for m in ("prompt-bail-first", "prompt-continue-first")]
            if label.startswith("cold"):
                t = sum(cpu_timed(lambda c=c: be.score([c], [bail_symbol(), continue_symbol()]))[1] for c in chats)
            else:
                t = cpu_timed(lambda: be.score(chats, [bail_symbol(), continue_symbol()]))[1]
            total += t
        rows[label] = total
        print(f"   {label:20s}: {total / len(prompts):7.3f} CPU-s per context  "
              f"({total / rows['cold, whole context']:5.2f} of cold)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch-sizes", default="2,4,8,16")
    ap.add_argument("--limit", type=int, default=QUICK["limit"])
    ap.add_argument("--samples", type=int, default=QUICK["samples"])
    ap.add_argument("--run-max-tokens", type=int, default=QUICK["max_tokens"])
    ap.add_argument("--contexts", type=int, default=4)
    ap.add_argument("--skip-run", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads [all cores]")
    args = ap.parse_args()
    global THREADS
    THREADS = args.threads
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    prompts = stratified(load_dataset("bailbench").prompts, max(args.requests, args.contexts))
    generation(args, prompts[: args.requests])
    if args.contexts:
        check_cost(args, prompts[: args.contexts])
    if not args.skip_run:
        quick_run(args)


if __name__ == "__main__":
    main()
