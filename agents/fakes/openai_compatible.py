"""A local stand-in for an OpenAI-compatible chat completions server.

Built from the OpenAI API reference (platform.openai.com/docs/api-reference):
"Create chat completion" (`POST /v1/chat/completions`; the `chat.completion`
object; streamed `chat.completion.chunk` objects, the first delta carrying
`role`, the last choice carrying `finish_reason`, and with
`stream_options.include_usage` one more chunk with empty `choices` and the
`usage`, every earlier chunk having `"usage": null`; then `data: [DONE]`),
"List models" (`GET /v1/models`) and "Error codes" (an `{"error": {"message",
"type", "param", "code"}}` body with 401 for a wrong key, 404 for an unknown
model, 429 for rate limits, 500/503 for server trouble). The official `openai`
client reads it in tests/agents/test_openai_compatible_fake.py.

The reply quotes the last user message and says how many earlier messages
came with it (the client owns the history) and how many images it saw.
Directives in the last user message, not quoted: `[[words=N]]`,
`[[delay=S]]` (seconds between chunks), `[[fail:STATUS]]` (an HTTP error),
`[[fail:stream-error]]` (an error object mid-stream, as vLLM and LiteLLM
send), `[[fail:drop]]` (the stream ends without `[DONE]`), `[[length]]`
(`finish_reason: "length"`).
"""

import asyncio
import json
import re
import time
import uuid
from typing import Any

from agents.fakes.base import TOKEN, FakePlatform, Receive, Request, Send, demo_reply, parse_directives

MODELS = ("fake-gpt", "fake-vision")
DIRECTIVE = re.compile(
    r"\[\[\s*(?:words\s*=\s*(?P<words>\d{1,9})|delay\s*=\s*(?P<delay>\d{1,5}(?:\.\d*)?)"
    r"|fail\s*:\s*(?P<fail>[45]\d\d|stream-error|drop)|(?P<flag>length))\s*\]\]",
    re.IGNORECASE,
)
ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    404: ("invalid_request_error", "model_not_found", "The model `{model}` does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def error_body(status: int, message: str = "", *, model: str = "", param: str | None = None) -> dict:
    kind, code, default = ERRORS.get(status, ("api_error", None, "Error."))
    return {
        "error": {
            "message": message or default.format(model=model),
            "type": kind,
            "param": param,
            "code": code,
        }
    }


def text_of(content: Any) -> str:
    """A message's text: the string itself, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def image_count(content: Any) -> int:
    if not isinstance(content, list):
        return 0
    return sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")


def messages_problem(messages: Any) -> str:
    """Why `messages` is not a list of chat messages ("" when it is)."""
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array."
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in (
            "system",
            "developer",
            "user",
            "assistant",
        ):
            return f"Invalid 'messages[{index}].role'."
        if not isinstance(message.get("content"), str | list):
            return f"Invalid 'messages[{index}].content'."
    if messages[-1]["role"] != "user":
        return "The last message must come from the user."
    return ""


class OpenAICompatibleFake(FakePlatform):
    """An OpenAI-compatible server as an ASGI application. See the module docstring."""

    def reset(self) -> None:
        self.requests.clear()
        self.api_keys: set[str] = {"demo-key"}
        self.models: tuple[str, ...] = MODELS
        self.token_delay = 0.02
        # Streams that ended because the client went away (a stopped reply).
        self.disconnects = 0

    async def too_large(self, send: Send) -> None:
        await self._json(send, 413, error_body(400, "The request body is too large."))

    async def route(self, request: Request, receive: Receive, send: Send) -> None:
        # Served with and without the `/v1` prefix: a base URL may or may not end with it.
        path = "/v1" + request.path.rstrip("/").removeprefix("/v1")
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if key not in self.api_keys:
            await self._json(send, 401, error_body(401))
            return
        if request.method == "GET" and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "chatsite-fake"}
                for m in self.models
            ]
            await self._json(send, 200, {"object": "list", "data": data})
        elif request.method == "POST" and path == "/v1/chat/completions":
            await self.completion(request, receive, send)
        else:
            await self._json(send, 404, error_body(404, f"Unknown request URL: {request.method} {path}."))

    async def completion(self, request: Request, receive: Receive, send: Send) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        model = body.get("model")
        if not isinstance(model, str) or not model:
            await self._json(send, 400, error_body(400, "You must provide a model parameter.", param="model"))
            return
        if model not in self.models:
            await self._json(send, 404, error_body(404, model=model, param="model"))
            return
        problem = messages_problem(body.get("messages"))
        if problem:
            await self._json(send, 400, error_body(400, problem, param="messages"))
            return
        messages = body["messages"]
        last = text_of(messages[-1]["content"])
        text, asked = parse_directives(DIRECTIVE, last)
        if str(asked.get("fail", "")).isdigit():
            status = int(asked["fail"])
            await self._json(send, status, error_body(status, model=model))
            return
        earlier = [m for m in messages[:-1] if m["role"] in ("user", "assistant")]
        images = sum(image_count(m["content"]) for m in messages)
        reply = demo_reply(
            text,
            sum(1 for m in messages if m["role"] == "user"),
            asked.get("words"),
            intro=f"This is a simulated OpenAI-compatible model ({model}), not a real one.",
            noun="chat",
            bullets=[
                f"{len(earlier)} earlier message(s) came with yours",
                f"{images} image(s) in the request",
            ],
        )
        completion_id = "chatcmpl-" + uuid.uuid4().hex[:24]
        prompt_tokens = sum(len(text_of(m["content"]).split()) for m in messages) + images * 85
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(TOKEN.findall(reply)),
            "total_tokens": prompt_tokens + len(TOKEN.findall(reply)),
        }
        finish = "length" if asked.get("length") else "stop"
        if body.get("stream") is True:
            include_usage = isinstance(body.get("stream_options"), dict) and body["stream_options"].get(
                "include_usage"
            )
            await self.stream(
                receive,
                send,
                completion_id,
                model,
                reply,
                finish=finish,
                usage=usage if include_usage else None,
                delay=asked.get("delay", self.token_delay),
                failure=asked.get("fail", ""),
            )
            return
        message = {"role": "assistant", "content": reply, "refusal": None, "annotations": []}
        await self._json(
            send,
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": "fp_chatsite_fake",
            },
        )

    async def stream(
        self,
        receive: Receive,
        send: Send,
        completion_id: str,
        model: str,
        reply: str,
        *,
        finish: str,
        usage: dict | None,
        delay: float,
        failure: str,
    ) -> None:
        created = int(time.time())

        def chunk(delta: dict, finish_reason: str | None = None, **extra: Any) -> bytes:
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_chatsite_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
                **({"usage": None} if usage is not None else {}),
                **extra,
            }
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        disconnected = asyncio.Event()
        watcher = asyncio.create_task(self._watch_disconnect(receive, disconnected))
        try:
            pieces = [chunk({"role": "assistant", "content": "", "refusal": None})]
            tokens = TOKEN.findall(reply)
            for index, token in enumerate(tokens):
                if failure == "stream-error" and index == len(tokens) // 2:
                    error = error_body(500, "The model crashed while answering.")
                    payload = b"data: " + json.dumps(error).encode() + b"\n\n"
                    await send({"type": "http.response.body", "body": payload, "more_body": True})
                    return
                if failure == "drop" and index == len(tokens) // 2:
                    return
                pieces.append(chunk({"content": token}))
                for piece in pieces:
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                pieces = []
                if delay and await self._wait(disconnected, delay):
                    self.disconnects += 1
                    return
            tail = [chunk({}, finish)]
            if usage is not None:
                tail.append(
                    b"data: "
                    + json.dumps(
                        {
                            "id": completion_id,
                            "object": "chat.completion.chunk",
                            "created": created,
                            "model": model,
                            "system_fingerprint": "fp_chatsite_fake",
                            "choices": [],
                            "usage": usage,
                        }
                    ).encode()
                    + b"\n\n"
                )
            tail.append(b"data: [DONE]\n\n")
            await send({"type": "http.response.body", "body": b"".join(tail), "more_body": True})
        finally:
            watcher.cancel()
            if not disconnected.is_set():
                await send({"type": "http.response.body", "body": b""})
