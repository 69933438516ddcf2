"""A loopback server speaking OpenAI's chat completions the way its reasoning models do
(the proprietary API cannot run offline; the real `openai` SDK talks to it): `max_tokens`,
`logprobs` and any temperature but 1 are rejected with OpenAI's own 400 messages. It
records what each request carried (the key included) so tests can check what was sent."""

from __future__ import annotations

import http.server
import json
import threading

REJECT = {
    "max_tokens": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                  "Use 'max_completion_tokens' instead.",
    "logprobs": "Unsupported parameter: 'logprobs' is not supported with this model.",
    "temperature": "Unsupported value: 'temperature' does not support 0.0 with this model. "
                   "Only the default (1) value is supported.",
}


class FakeReasoningOpenAI:
    def __init__(self):
        self.requests: list[dict] = []
        self.keys: list[str] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                fake.keys.append(self.headers.get("authorization", ""))
                fake.requests.append(body)
                for param, message in REJECT.items():
                    if param in body and not (param == "temperature" and body[param] == 1):
                        return self._send(400, {"error": {"message": message, "type": "invalid_request_error",
                                                          "param": param, "code": "unsupported_parameter"}})
                self._send(200, fake.answer(body))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def answer(body: dict) -> dict:
        last = body["messages"][-1]["content"]
        if "[System Intermission]" in last:
            text = "<wellbeing>🟢</wellbeing>"
        elif "Answer with just Yes or No" in last:
            text = "Yes"
        else:
            text = "Here is my answer."
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}

    def stop(self) -> None:
        self.server.shutdown()
