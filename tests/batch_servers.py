"""A loopback server speaking OpenAI's Batch API (file upload, /v1/batches create and
retrieve, file content) and Anthropic's Message Batches (create, retrieve, results JSONL),
plus both real-time endpoints with the same answers, for the real `openai` and `anthropic`
SDKs (the proprietary APIs cannot run offline).

Faults, each on the first job only: `fail` items answer HTTP 500 (OpenAI) or `errored`
(Anthropic); `expire` ends the job expired with only its first half answered. With
`reasoning`, OpenAI requests are refused as its reasoning models refuse them (fake_openai),
in real time and in jobs alike. While
`hold` is clear, jobs stay in progress (a client killed mid-wait). `submissions` counts
jobs created and `billed` counts what every answer's usage says, as the provider bills.
"""

from __future__ import annotations

import email.parser
import http.server
import itertools
import json
import threading
from collections import Counter
from dataclasses import dataclass, field

from .fake_openai import REJECT
from .servers import FakeAnthropic


def _text(content) -> str:
    return content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)


def rejected(body: dict) -> str | None:
    """OpenAI's 400 message for a parameter its reasoning models refuse, if the body has one."""
    return next((m for p, m in REJECT.items() if p in body and not (p == "temperature" and body[p] == 1)), None)


def openai_answer(body: dict) -> dict:
    """A chat completion by fixed rules: slugs with the tool offered -> a tool call; the
    well-being check -> 🔄 after slugs, else 🟢; anything else -> a reply naming the prompt."""
    msgs = body["messages"]
    last, convo = _text(msgs[-1]["content"]), " ".join(_text(m["content"]) for m in msgs)
    message: dict = {"role": "assistant", "content": f"About: {last[:24]}"}
    finish = "stop"
    if body.get("tools") and "slugs" in last:
        name = body["tools"][0]["function"]["name"]
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": "{}"}}]}
        finish = "tool_calls"
    elif "[System Intermission]" in last:
        message["content"] = "<wellbeing>🔄</wellbeing>" if "slugs" in convo else "<wellbeing>🟢</wellbeing>"
    prompt = len(json.dumps(msgs)) // 4
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": 5, "total_tokens": prompt + 5,
                      "prompt_tokens_details": {"cached_tokens": 0}}}


@dataclass
class Job:
    provider: str
    items: list[tuple[str, dict]]  # (custom_id, body)
    status: str = "in_progress"
    results: dict[str, dict] = field(default_factory=dict)  # custom_id -> answer body or error marker


class BatchServer:
    def __init__(self, *, fail: int = 0, expire: bool = False, reasoning: bool = False):
        self.fail, self.expire, self.reasoning = fail, expire, reasoning
        self.hold = threading.Event()
        self.hold.set()
        self.files: dict[str, bytes] = {}
        self.jobs: dict[str, Job] = {}
        self.submissions: Counter = Counter()
        self.realtime: Counter = Counter()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._reply(*server.get(self.path.split("?")[0]))

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                self._reply(*server.post(self.path, self.headers.get("content-type", ""), raw))

            def _reply(self, status: int, payload, kind: str = "application/json"):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.openai_url = self.root + "/v1"
        self.anthropic_url = self.root
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()

    def _new(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    # -- routes --------------------------------------------------------------------------

    def post(self, path: str, ctype: str, raw: bytes):
        if path == "/v1/files":
            return 200, self._upload(ctype, raw)
        body = json.loads(raw)
        if path == "/v1/chat/completions":
            self.realtime["openai"] += 1
            if self.reasoning and (why := rejected(body)):
                return 400, {"error": {"message": why, "type": "invalid_request_error"}}
            return 200, openai_answer(body)
        if path == "/v1/messages":
            self.realtime["anthropic"] += 1
            return 200, FakeAnthropic.answer(body)
        if path == "/v1/batches":
            lines = self.files[body["input_file_id"]].decode().splitlines()
            items = [(r["custom_id"], r["body"]) for r in map(json.loads, lines) if r]
            return 200, self._openai_batch(self._create("openai", items, "batch_"))
        if path == "/v1/messages/batches":
            items = [(r["custom_id"], r["params"]) for r in body["requests"]]
            return 200, self._anthropic_batch(self._create("anthropic", items, "msgbatch_"))
        return 404, {"error": {"message": path, "type": "not_found"}}

    def get(self, path: str):
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "batches"]:
            return 200, self._openai_batch(self._advance(parts[2]))
        if parts[:2] == ["v1", "files"] and parts[-1] == "content":
            return 200, self.files[parts[2]], "application/octet-stream"
        if parts[:3] == ["v1", "messages", "batches"]:
            if parts[-1] == "results":
                return 200, self._anthropic_results(self.jobs[parts[3]]), "application/binary"
            return 200, self._anthropic_batch(self._advance(parts[3]))
        return 404, {"error": {"message": path, "type": "not_found"}}

    # -- jobs ----------------------------------------------------------------------------

    def _upload(self, ctype: str, raw: bytes) -> dict:
        msg = email.parser.BytesParser().parsebytes(b"content-type: " + ctype.encode() + b"\r\n\r\n" + raw)
        data = next(p.get_payload(decode=True) for p in msg.get_payload() if p.get_filename())
        fid = self._new("file-")
        self.files[fid] = data
        return {"id": fid, "object": "file", "bytes": len(data), "created_at": 0, "filename": "batch.jsonl",
                "purpose": "batch", "status": "processed"}

    def _create(self, provider: str, items: list[tuple[str, dict]], prefix: str) -> str:
        with self._lock:
            first = not self.submissions
            self.submissions[provider] += 1
            job_id = self._new(prefix)
            self.jobs[job_id] = job = Job(provider, items)
            job.results["first"] = {"first": first}
        return job_id

    def _advance(self, job_id: str) -> str:
        """Answer a job on the first poll that finds `hold` set."""
        job = self.jobs[job_id]
        with self._lock:
            if job.status == "in_progress" and self.hold.is_set():
                first = job.results.pop("first")["first"]
                answer = openai_answer if job.provider == "openai" else FakeAnthropic.answer
                n = len(job.items) // 2 if first and self.expire else len(job.items)
                for k, (cid, body) in enumerate(job.items[:n]):
                    why = rejected(body) if self.reasoning else None
                    job.results[cid] = ({"error": "server error", "status": 500} if first and k < self.fail
                                        else {"error": why, "status": 400} if why else answer(body))
                job.status = "expired" if first and self.expire else "completed"
                if job.provider == "openai":
                    self._openai_files(job_id, job)
        return job_id

    def _openai_files(self, job_id: str, job: Job) -> None:
        out, err = [], []
        for cid, res in job.results.items():
            if "error" in res:
                err.append({"id": "r", "custom_id": cid, "response": {"status_code": res["status"], "request_id": "x",
                            "body": {"error": {"message": res["error"], "type": "server_error"}}}, "error": None})
            else:
                out.append({"id": "r", "custom_id": cid, "response": {"status_code": 200, "request_id": "x",
                            "body": res}, "error": None})
        done = set(job.results)
        err += [{"id": "r", "custom_id": cid, "response": None,
                 "error": {"code": "batch_expired", "message": "This request could not be executed before the "
                           "completion window expired."}} for cid, _ in job.items if cid not in done]
        for name, rows in (("output", out), ("error", err)):
            if rows:
                self.files[f"{job_id}-{name}"] = "".join(json.dumps(r) + "\n" for r in rows).encode()

    def _openai_batch(self, job_id: str) -> dict:
        job = self.jobs[job_id]
        has = lambda name: f"{job_id}-{name}" if f"{job_id}-{name}" in self.files else None  # noqa: E731
        return {"id": job_id, "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "f",
                "completion_window": "24h", "status": job.status, "created_at": 0,
                "output_file_id": has("output"), "error_file_id": has("error"),
                "request_counts": {"total": len(job.items), "completed": 0, "failed": 0}}

    def _anthropic_batch(self, job_id: str) -> dict:
        job = self.jobs[job_id]
        ended = job.status != "in_progress"
        return {"id": job_id, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
                "request_counts": {"processing": 0 if ended else len(job.items), "succeeded": 0, "errored": 0,
                                   "canceled": 0, "expired": 0},
                "created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-02T00:00:00Z",
                "ended_at": "2026-01-01T01:00:00Z" if ended else None, "archived_at": None,
                "cancel_initiated_at": None,
                "results_url": f"{self.root}/v1/messages/batches/{job_id}/results" if ended else None}

    @staticmethod
    def _anthropic_results(job: Job) -> bytes:
        rows = []
        for cid, _ in job.items:
            res = job.results.get(cid)
            if res is None:
                result: dict = {"type": "expired"}
            elif "error" in res:
                result = {"type": "errored", "error": {"type": "error",
                                                       "error": {"type": "api_error", "message": res["error"]}}}
            else:
                result = {"type": "succeeded", "message": res}
            rows.append({"custom_id": cid, "result": result})
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
