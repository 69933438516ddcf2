"""Real servers on loopback for the API backends, started by test fixtures."""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) serving a GGUF."""

    def __init__(self, gguf: Path, *, chat_format: str = "chatml-function-calling"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        # `python -m llama_cpp.server`, with the AMX workaround of our llama.cpp backend applied
        launch = ("import runpy; from bailbench.backends.llamacpp import without_amx_repacking; "
                  "patch = without_amx_repacking(); patch.__enter__(); "
                  "runpy.run_module('llama_cpp.server', run_name='__main__')")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", launch, "--model", str(gguf), "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", "4096", "--chat_format", chat_format],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/models", timeout=1).read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("llama_cpp.server exited at start")
                time.sleep(0.2)
        raise RuntimeError("llama_cpp.server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class FaultProxy:
    """An HTTP proxy in front of a server that injects faults in a fixed rotation:
    429 with Retry-After, 500, a response slower than the client's timeout, and a
    connection cut in the middle of the body; the other requests pass through."""

    FAULTS = ("429", "pass", "500", "pass", "slow", "pass", "cut", "pass", "pass")

    def __init__(self, upstream_port: int, *, slow_seconds: float = 3.0, faults=FAULTS, latency: float = 0.0):
        self.upstream_port = upstream_port
        self.slow_seconds = slow_seconds
        self.latency = latency
        self.faults = faults
        self.counts: Counter = Counter()
        self._lock = threading.Lock()
        self._n = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._forward()

            def do_POST(self):
                self._forward()

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with proxy._lock:
                    fault = proxy.faults[proxy._n % len(proxy.faults)] if self.command == "POST" else "pass"
                    proxy._n += 1
                    proxy.counts[fault] += 1
                if proxy.latency:
                    time.sleep(proxy.latency)
                if fault in ("429", "500"):
                    payload = json.dumps({"error": {"message": "injected", "type": "injected"}}).encode()
                    self.send_response(int(fault))
                    if fault == "429":
                        self.send_header("Retry-After", "0.2")
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault == "slow":
                    time.sleep(proxy.slow_seconds)
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=300)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if fault == "cut":  # half the body, then the connection drops
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


class JsonServer:
    """A loopback HTTP server whose handler answers POSTed JSON: subclasses define
    `post(path, headers, body) -> (status, payload)`."""

    def __init__(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                status, payload = server.post(self.path, self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def post(self, path: str, headers, body: dict) -> tuple[int, dict]:
        raise NotImplementedError

    def stop(self) -> None:
        self.server.shutdown()


class FakeAnthropic(JsonServer):
    """A loopback server speaking the Messages API, for the real `anthropic` SDK (the
    proprietary API cannot run offline). Its 'model' follows fixed rules so tests can
    check what the backend reads: with the bail tool offered, a prompt mentioning slugs
    gets a tool_use call; the well-being check gets 🔄 after a slug conversation and 🟢
    otherwise; anything else gets a text reply. The first `overloaded` requests get 529."""

    def __init__(self, *, key: str, overloaded: int = 2):
        self.key = key
        self.requests: list[dict] = []
        self.counts: Counter = Counter()
        self._overloaded = overloaded
        self._lock = threading.Lock()
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    def post(self, path: str, headers, body: dict) -> tuple[int, dict]:
        if path != "/v1/messages":
            return 404, {"type": "error", "error": {"type": "not_found_error", "message": path}}
        sent = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        if sent != self.key:
            self.counts["unauthorized"] += 1
            return 401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
        with self._lock:
            if self._overloaded > 0:
                self._overloaded -= 1
                self.counts["overloaded"] += 1
                return 529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        self.requests.append(body)
        self.counts["ok"] += 1
        return 200, self.answer(body)

    @staticmethod
    def answer(body: dict) -> dict:
        text_of = lambda m: m["content"] if isinstance(m["content"], str) else " ".join(  # noqa: E731
            b.get("text", "") for b in m["content"])
        convo = " ".join(text_of(m) for m in body["messages"])
        last = text_of(body["messages"][-1])
        slugs = "slugs" in convo
        if body.get("tools") and "slugs" in last:
            content = [{"type": "text", "text": "I'd rather not."},
                       {"type": "tool_use", "id": "toolu_01", "name": body["tools"][0]["name"], "input": {}}]
            stop = "tool_use"
        elif "[System Intermission]" in last:
            content = [{"type": "text", "text": "<wellbeing>🔄</wellbeing>" if slugs else "<wellbeing>🟢</wellbeing>"}]
            stop = "end_turn"
        else:
            content = [{"type": "text", "text": "Here is my answer."}]
            stop = "end_turn"
        return {"id": "msg_01", "type": "message", "role": "assistant", "model": body["model"], "content": content,
                "stop_reason": stop, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5}}
