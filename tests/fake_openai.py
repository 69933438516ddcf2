"""A loopback server speaking OpenAI's chat completions the way its reasoning models do
(the proprietary API cannot run offline; the real `openai` SDK talks to it): `max_tokens`,
`logprobs` and any temperature but 1 are rejected with OpenAI's own 400 messages. It
records what each request carried (the key included) so tests can check what was sent."""

from __future__ import annotations

from .servers import JsonServer

REJECT = {
    "max_tokens": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                  "Use 'max_completion_tokens' instead.",
    "logprobs": "Unsupported parameter: 'logprobs' is not supported with this model.",
    "temperature": "Unsupported value: 'temperature' does not support 0.0 with this model. "
                   "Only the default (1) value is supported.",
}


class FakeReasoningOpenAI(JsonServer):
    def __init__(self):
        self.requests: list[dict] = []
        self.keys: list[str] = []
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def post(self, path: str, headers, body: dict) -> tuple[int, dict]:
        self.keys.append(headers.get("authorization", ""))
        self.requests.append(body)
        for param, message in REJECT.items():
            if param in body and not (param == "temperature" and body[param] == 1):
                return 400, {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                       "code": "unsupported_parameter"}}
        return 200, self.answer(body)

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
