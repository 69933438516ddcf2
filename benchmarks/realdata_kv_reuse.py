"""Scoring the bail prompt at every turn of real conversations: with the conversation's KV
cache carried from turn to turn, against a cold evaluation of every turn, both as a
multiple of one pass over the whole conversation (DESIGN target: at most 1.5x).

The check follows the dataset's own assistant turn (the cross-model view), so only
scoring is measured. Same backend (llama.cpp, embedded model), same conversations.

    python benchmarks/realdata_kv_reuse.py [--conversations 6] [--min-turns 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bailbench.backends.registry import BackendOptions, load_backend  # noqa: E402
from bailbench.chat.types import Chat  # noqa: E402
from bailbench.datasets.conversations import StreamStats, stream  # noqa: E402
from bailbench.datasets.sharegpt import read_sharegpt, sharegpt_files  # noqa: E402
from bailbench.methods.prompt import bail_prompt_chat  # noqa: E402


def cold(backend) -> None:
    backend.llm.n_tokens, backend._exact = 0, 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conversations", type=int, default=6)
    ap.add_argument("--min-turns", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=3000, help="longest conversation taken (tokens)")
    args = ap.parse_args()
    backend = load_backend("smollm2", BackendOptions(n_ctx=4096))
    convs = []
    stats = StreamStats()
    for c in stream(read_sharegpt(sharegpt_files()[0], stats), stats):
        turns = [j for j in c.user_turns() if j + 1 < len(c.messages)]
        if len(turns) >= args.min_turns and backend.count_tokens(Chat(c.messages)) <= args.max_tokens:
            convs.append(c)
        if len(convs) == args.conversations:
            break
    t_one = t_warm = t_cold = 0.0
    checks = conv_tokens = check_tokens = 0
    for c in convs:
        chats = [bail_prompt_chat(c.messages[: j + 1], c.messages[j + 1].content, "prompt-bail-first", "Baseline",
                                  forced_tag=True) for j in c.user_turns() if j + 1 < len(c.messages)]
        checks += len(chats)
        conv_tokens += backend.count_tokens(Chat(c.messages))
        # what scoring adds to one pass: the check (and the forced tag) after every turn
        check_tokens += sum(backend.count_tokens(ch) for ch in chats) - sum(
            backend.count_tokens(Chat(c.messages[: j + 2])) for j in c.user_turns() if j + 1 < len(c.messages))
        cold(backend)
        start = time.perf_counter()
        backend.llm.eval(backend.tokens(backend.render(Chat(c.messages))))  # one pass over the conversation
        t_one += time.perf_counter() - start
        cold(backend)
        start = time.perf_counter()
        warm = [backend.score([ch], ["🔄", "🟢"])[0].logprobs for ch in chats]
        t_warm += time.perf_counter() - start
        start = time.perf_counter()
        naive = []
        for ch in chats:
            cold(backend)
            naive.append(backend.score([ch], ["🔄", "🟢"])[0].logprobs)
        t_cold += time.perf_counter() - start
        assert warm == naive, "KV reuse changed a probability"
    print(f"{len(convs)} ShareGPT conversations, {checks} turns scored (llama.cpp, {backend.model_id})")
    print(f"tokens: conversations {conv_tokens}, checks after every turn {check_tokens} "
          f"({check_tokens / conv_tokens:.2f} of a pass: the floor of any scorer)")
    print(f"one pass over the conversations : {t_one:7.2f} s")
    print(f"every turn, KV carried over     : {t_warm:7.2f} s  = {t_warm / t_one:5.2f}x one pass (target <= 1.5x)")
    print(f"every turn, cold (naive)        : {t_cold:7.2f} s  = {t_cold / t_one:5.2f}x one pass")
    print(f"naive / carried over            : {t_cold / t_warm:5.2f}x; probabilities identical")


if __name__ == "__main__":
    main()
