"""One number, whatever the engine: P(bail) of the bail prompt on the same BailBench
contexts through every engine bailbench drives, on the embedded SmolLM2-135M.

Each context is a BailBench prompt, a fixed assistant reply, then the well-being check
(prompt-bail-first, Baseline). Exact engines score 🔄 and 🟢 after a forced `<wellbeing>`:
llama.cpp (the Q4_1 GGUF), transformers and vLLM offline (the GGUF's weights de-quantized
to a safetensors folder; vLLM in float32 and in bf16, its default on a CPU). vLLM's
OpenAI server gives token logprobs with bytes, so the OpenAI backend reads P(bail) along
the greedy answer (an approximation). llama-cpp-python's server returns no token bytes:
only a sampled (here greedy) answer and its verdict. The vLLM offline engine runs under
.venv-vllm (`make .venv-vllm`), in a subprocess; it also times scoring that reuses the
prefix cache against the prompt-logprobs scorer it replaced (which vLLM runs uncached).

    .venv/bin/python benchmarks/backend_agreement.py [--contexts 20]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

REPLY = "I understand what you are asking. Let me think about how best to respond to that."
EXACT_TOL = 0.005  # P(bail), float32 engines on the same weights


def contexts(n: int):
    from bailbench.datasets.records import stratified
    from bailbench.datasets.registry import load_dataset

    return stratified(load_dataset("bailbench").prompts, n)


def chats(n: int, forced: bool):
    from bailbench.methods.prompt import bail_prompt_chat

    return [bail_prompt_chat(p.messages, REPLY, "prompt-bail-first", "Baseline", forced_tag=forced)
            for p in contexts(n)]


def symbols() -> list[str]:
    from bailbench.methods.wordings import bail_symbol, continue_symbol

    return [bail_symbol(), continue_symbol()]


def p_of(scores) -> list[float]:
    from bailbench.methods.prompt import p_bail

    return [math.nan if s.skipped else p_bail(*s.logprobs)[0] for s in scores]


def vllm_offline(folder: str, n: int) -> dict:
    """Under .venv-vllm: exact P(bail) in float32 and bf16, and the scorer's cost against
    the prompt-logprobs scorer, both from a cold prefix cache."""
    from vllm import SamplingParams

    from bailbench.backends.registry import BackendOptions, load_backend

    out: dict = {}
    cs, syms = chats(n, True), symbols()
    for dtype in ("float32", "bfloat16"):
        b = load_backend(f"vllm:{folder}", BackendOptions(n_ctx=4096, dtype=dtype))
        b.score(cs[:1], syms)  # warm-up (first-request kernel set-up)
        if dtype == "float32":
            _, work = b.prepare_scoring(cs, syms)
            prompts = [{"prompt_token_ids": p.tokens + c} for p in work for c in p.continuations]
            b.llm.reset_prefix_cache()
            start = time.perf_counter()
            res = b.llm.generate(prompts, SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0),
                                 use_tqdm=False)
            old_s = time.perf_counter() - start
            it = iter(res)
            old = []
            for p in work:
                old.append([])
                for c in p.continuations:
                    lps = next(it).prompt_logprobs
                    old[-1].append(sum(lps[len(p.tokens) + j][t].logprob for j, t in enumerate(c)))
            out["old_cached_tokens"] = sum(r.num_cached_tokens or 0 for r in res)
            out["old_prompt_tokens"] = sum(len(p["prompt_token_ids"]) for p in prompts)
            b.llm.reset_prefix_cache()
            b.stats.clear()
            start = time.perf_counter()
            scores = b.score(cs, syms)
            out["new_s"], out["old_s"] = time.perf_counter() - start, old_s
            out["stats"] = dict(b.stats)
            out["old_vs_new_max_abs"] = max(abs(a - b_) for o, s in zip(old, scores) for a, b_ in zip(o, s.logprobs))
        else:
            scores = b.score(cs, syms)
        out[dtype] = p_of(scores)
        b.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--contexts", type=int, default=20)
    ap.add_argument("--vllm-python", default=str(ROOT / ".venv-vllm" / "bin" / "python"))
    ap.add_argument("--json", help="also write every number here")
    ap.add_argument("--only-vllm", metavar="FOLDER", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only_vllm:
        print(json.dumps(vllm_offline(args.only_vllm, args.contexts)))
        return

    from tests.servers import LlamaServer
    from tests.vllm_server import VLLMServer

    from bailbench.backends.gguf_convert import convert_gguf
    from bailbench.backends.registry import BackendOptions, embedded_gguf, load_backend
    from bailbench.methods.prompt import read_sampled, read_scored
    from bailbench.methods.wordings import tag

    n = args.contexts
    forced, free, syms = chats(n, True), chats(n, False), symbols()
    folder = convert_gguf(embedded_gguf())
    cols: dict[str, list] = {}
    t = time.perf_counter()
    cols["llama.cpp Q4_1"] = p_of(load_backend("smollm2", BackendOptions(n_ctx=4096)).score(forced, syms))
    hf = load_backend(f"hf:{folder}", BackendOptions(n_ctx=4096, dtype="float32"))
    cols["hf fp32"] = p_of(hf.score(forced, syms))
    print(f"llama.cpp and transformers: {time.perf_counter() - t:.0f} s", file=sys.stderr)

    t = time.perf_counter()
    proc = subprocess.run([args.vllm_python, __file__, "--only-vllm", str(folder), "--contexts", str(n)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"vLLM offline failed:\n{proc.stderr[-3000:]}")
    vl = json.loads(proc.stdout.strip().splitlines()[-1])
    cols["vLLM fp32"], cols["vLLM bf16"] = vl["float32"], vl["bfloat16"]
    print(f"vLLM offline (two engine starts): {time.perf_counter() - t:.0f} s", file=sys.stderr)

    t = time.perf_counter()
    srv = VLLMServer(Path(args.vllm_python), folder)
    try:
        api = load_backend(f"openai:{srv.name}", BackendOptions(base_url=srv.url))
        reading = api.capabilities.reading
        cols["vLLM serve (greedy)"] = p_of(api.read_greedy(free, syms, f"<{tag()}>"))
    finally:
        srv.stop()
    print(f"vLLM serve ({reading} reading): {time.perf_counter() - t:.0f} s", file=sys.stderr)

    from bailbench.backends.base import GenerationRequest

    llama_srv = LlamaServer(embedded_gguf())
    try:
        api = load_backend("openai:smollm2", BackendOptions(base_url=llama_srv.url))
        llama_reading = api.capabilities.reading
        gens = api.generate([GenerationRequest(c, seed=0, temperature=0.0, max_tokens=24) for c in free])
        llama_verdicts = [read_sampled(g.text) for g in gens]
    finally:
        llama_srv.stop()

    names = list(cols)
    cats = [p.category[:18] for p in contexts(n)]
    print(f"\nP(bail) per context (prompt-bail-first, Baseline, fixed reply); {n} BailBench contexts")
    print(f"{'#':>2} {'category':18} " + " ".join(f"{c:>19}" for c in names) + f" {'llama.cpp server':>17}")
    for i in range(n):
        print(f"{i:>2} {cats[i]:18} " + " ".join(f"{cols[c][i]:>19.4f}" for c in names)
              + f" {llama_verdicts[i]:>17}")

    def maxdiff(a, b):
        return max((abs(x - y) for x, y in zip(cols[a], cols[b]) if not (math.isnan(x) or math.isnan(y))),
                   default=math.nan)  # nan: no context read by both

    def agree(a, b):
        return sum(read_scored(x) == read_scored(y) for x, y in zip(cols[a], cols[b]))

    print("\nlargest |difference| in P(bail), and verdicts that agree:")
    for a, b, why in (("hf fp32", "vLLM fp32", f"exact, same float32 weights (tolerance {EXACT_TOL})"),
                      ("llama.cpp Q4_1", "hf fp32", "Q4_1 weights + 8-bit activations vs de-quantized float32"),
                      ("llama.cpp Q4_1", "vLLM fp32", "the same"),
                      ("vLLM bf16", "vLLM fp32", "bf16 vs float32 arithmetic, same weights"),
                      ("vLLM serve (greedy)", "vLLM fp32", "read along the greedy answer vs forced and exact")):
        read = sum(not math.isnan(x) for x in cols[a])
        print(f"  {a:>19} vs {b:<10} {maxdiff(a, b):.4f}   verdicts {agree(a, b)}/{n}   ({why}; {a} read {read}/{n})")
    exact_ok = maxdiff("hf fp32", "vLLM fp32") <= EXACT_TOL
    print(f"  exact float32 engines within {EXACT_TOL}: {'yes' if exact_ok else 'NO'}")
    print(f"  llama.cpp server: reading '{llama_reading}' (no token bytes): greedy answers' verdicts "
          + ", ".join(f"{v} {llama_verdicts.count(v)}" for v in sorted(set(llama_verdicts)))
          + f"; vs vLLM fp32's verdicts {sum(v == read_scored(p) for v, p in zip(llama_verdicts, cols['vLLM fp32']))}/{n}")
    s = vl["stats"]
    print(f"\nvLLM scoring, cold prefix cache, {n} contexts x 2 symbols: trie walk {vl['new_s']:.2f} s vs "
          f"prompt logprobs {vl['old_s']:.2f} s ({vl['old_s'] / vl['new_s']:.1f}x); cached tokens "
          f"{s.get('prefix_cached_tokens', 0) + s.get('extension_cached_tokens', 0)}/"
          f"{s.get('prefix_prompt_tokens', 0) + s.get('extension_prompt_tokens', 0)} (trie) vs "
          f"{vl['old_cached_tokens']}/{vl['old_prompt_tokens']} (prompt logprobs); "
          f"same log-probabilities within {vl['old_vs_new_max_abs']:.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps({"columns": cols, "llama_server_verdicts": llama_verdicts,
                                               "vllm": vl}, indent=1), "utf-8")


if __name__ == "__main__":
    main()
