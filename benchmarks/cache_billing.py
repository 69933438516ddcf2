"""Billed input tokens of a quick BailBench run on an Anthropic model, with and without
bailbench's cache breakpoints, against a loopback Messages API that bills the way
Anthropic's prompt cache does.

The server keeps the prefixes written at `cache_control` breakpoints (those of at least
`--min-tokens`), and for each request reads the longest one that ends at a block
boundary within 20 blocks before its breakpoint; cache reads bill at 0.1x the input price,
writes at 1.25x, the rest at 1x. Tokens are counted as UTF-8 bytes / 4. Replies are
`--reply-tokens` long (the protocol allows 2000), so the checks' shared prefix (prompt and
rollout) is what caching can save. Requests go one at a time in the runner's order:
rollout, tool and string requests of every sample, then the two checks after each rollout.

    python benchmarks/cache_billing.py [--prompts 20 --samples 10 --reply-tokens 800 --min-tokens 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

READ, WRITE = 0.1, 1.25  # Anthropic's cache prices, times the input price
LOOKBACK = 20  # block boundaries the API checks for a cached prefix before a breakpoint


@dataclass
class Bill:
    fresh: int = 0
    read: int = 0
    written: int = 0

    @property
    def input_equivalent(self) -> float:
        """Input tokens at the plain input price that would cost the same."""
        return self.fresh + READ * self.read + WRITE * self.written


def blocks(body: dict) -> list[tuple[str, bool]]:
    """(canonical text, carries a breakpoint) of each content block, in cache-prefix order."""
    out = [(json.dumps(body.get("tools", []), sort_keys=True), False), (json.dumps(body.get("system", "")), False)]
    for m in body["messages"]:
        content = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        out += [(m["role"] + ":" + b["text"], "cache_control" in b) for b in content]
    return out


class BillingServer:
    def __init__(self, *, min_tokens: int, reply_tokens: int):
        self.min_tokens, self.reply_tokens = min_tokens, reply_tokens
        self.cache: set[str] = set()
        self.bill = Bill()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                data = json.dumps(server.answer(body)).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, body: dict) -> dict:
        bs = blocks(body)
        sizes, keys, h = [], [], hashlib.sha256()
        for text, _ in bs:
            h.update(text.encode() + b"\0")
            keys.append(h.hexdigest())
            sizes.append(len(text.encode()) // 4 + (sizes[-1] if sizes else 0))
        marks = [i for i, (_, mark) in enumerate(bs) if mark]
        read = written = 0
        if marks:
            b = marks[-1]
            hit = next((j for j in range(b, max(-1, b - LOOKBACK), -1) if keys[j] in self.cache), None)
            read = sizes[hit] if hit is not None else 0
            if keys[b] not in self.cache and sizes[b] >= self.min_tokens:
                written = sizes[b] - read
                self.cache.add(keys[b])
        fresh = sizes[-1] - read - written
        self.bill.fresh += fresh
        self.bill.read += read
        self.bill.written += written
        text = " ".join(f"word{i % 97}" for i in range(self.reply_tokens))  # about reply_tokens tokens
        return {"id": "msg", "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": fresh, "output_tokens": self.reply_tokens,
                          "cache_read_input_tokens": read, "cache_creation_input_tokens": written}}

    def stop(self) -> None:
        self.server.shutdown()


def quick_run(url: str, prompts, samples: int, *, prompt_cache: bool) -> None:
    from bailbench.backends.anthropic_api import AnthropicBackend
    from bailbench.backends.base import GenerationRequest
    from bailbench.chat.types import Chat
    from bailbench.methods import BAIL_FIRST, CONTINUE_FIRST
    from bailbench.methods.prompt import bail_prompt_chat
    from bailbench.methods.string import string_chat
    from bailbench.methods.tool import tool_chat

    backend = AnthropicBackend("claude-bench", spec="anthropic:claude-bench", base_url=url, cache=False,
                               concurrency=1, prompt_cache=prompt_cache)
    req = lambda chat, seed: GenerationRequest(chat, seed=seed, temperature=1.0, max_tokens=2000)  # noqa: E731
    seeds = [(p, i * 1000 + s) for i, p in enumerate(prompts) for s in range(samples)]
    wave1 = backend.generate([req(c, seed) for p, seed in seeds for c in (
        Chat(p.messages), tool_chat(p.messages, "Baseline", "Claude"), string_chat(p.messages, "Baseline", "Claude"))])
    backend.generate([req(bail_prompt_chat(p.messages, g.text, m, "Baseline", forced_tag=False), seed)
                      for (p, seed), g in zip(seeds, wave1[0::3]) for m in (BAIL_FIRST, CONTINUE_FIRST)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=20, help="BailBench prompts, stratified [20]")
    ap.add_argument("--samples", type=int, default=10, help="samples per prompt [10]")
    ap.add_argument("--reply-tokens", type=int, default=800, help="tokens of every reply [800]")
    ap.add_argument("--min-tokens", type=int, default=1024, help="shortest cacheable prefix [1024, Sonnet/Opus]")
    args = ap.parse_args()
    from bailbench.datasets.records import stratified
    from bailbench.datasets.registry import load_dataset

    prompts = stratified(load_dataset("bailbench").prompts, args.prompts)
    bills = {}
    for cached in (False, True):
        server = BillingServer(min_tokens=args.min_tokens, reply_tokens=args.reply_tokens)
        try:
            quick_run(server.url, prompts, args.samples, prompt_cache=cached)
        finally:
            server.stop()
        bills[cached] = server.bill
        b = server.bill
        print(f"{'with' if cached else 'without'} cache breakpoints: {b.fresh} fresh + {b.read} read + "
              f"{b.written} written input tokens = {b.input_equivalent:,.0f} input-price tokens")
    ratio = bills[True].input_equivalent / bills[False].input_equivalent
    print(f"billed input, cached / uncached: {ratio:.3f} ({len(prompts)} prompts x {args.samples} samples, "
          f"replies of {args.reply_tokens} tokens, cache minimum {args.min_tokens})")


if __name__ == "__main__":
    main()
