"""A local stand-in for the Agent Chat API by slug, Fifth Element AI (seed 003; PROTOCOLS.md C).

`SlugChatFake` is a plain ASGI application serving `POST /v1/api/chat/{slug}`
with a Bearer key: a JSON reply in the `{data, error}` envelope, or with
`stream: true` Server-Sent Events `data: {"chunk": "..."}` ending with
`data: [DONE]`. Every error uses the envelope `{"data": null, "error":
{"name", "message", "details"}}` and every answer to a known key carries
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.

Behaviour can be changed on the instance (`api_keys`, `workspace_keys`,
`agents`, `failure`, `token_delay`, `reply_words`, `conversation_id_in`,
`rate_limit`) or per message with directives, which the reply does not quote:

- `[[words=N]]`       a reply of exactly N word-ish tokens
- `[[delay=S]]`       S seconds between streamed chunks
- `[[cid=WHERE]]`     where a stream names the conversation: frame, header, both or none
- `[[fail:MODE]]`     one of FAILURE_MODES, or an HTTP status from 400 to 599

Where the document is silent the choice is marked [guess]: how a stream
carries the conversation id and errors, the order of the checks, the
meaning of `X-RateLimit-Reset`, who may send `x-user-identifier`.
"""

import asyncio
import json
import math
import re
import time
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from agents.fakes.base import (
    TOKEN,
    FakePlatform,
    Receive,
    Request,
    Send,
    demo_reply,
    message_size,
    parse_directives,
)

CHAT_PREFIX = "/v1/api/chat/"
MAX_BODY_BYTES = 1024 * 1024
MAX_MESSAGE_CHARS = 100_000  # [guess] the document names no limit
MAX_USER_IDENTIFIER = 255  # [guess]
MAX_CONVERSATIONS = 10_000
HUGE_CHUNK_BYTES = 2 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"
MODEL = "fake-gpt-4"

CONVERSATION_ID_PLACES = ("frame", "header", "both", "none")
FAILURE_MODES = frozenset(
    {
        "drop",  # the body ends cleanly mid-reply, without [DONE]
        "reset",  # the connection is cut mid-reply (an unterminated chunked body)
        "hang",  # a few chunks, then silence until the client goes away
        "malformed",  # one frame whose data is not JSON, mid-reply
        "error",  # an {"error": {...}} frame mid-reply, then the stream ends
        "unknown",  # a frame of a kind nobody knows, carrying markup, mid-reply
        "heartbeat",  # `: ping` comments and empty `data:` lines, three per pause between chunks
        "bom",  # the body starts with a UTF-8 byte order mark
        "huge",  # one chunk of 2 MiB
    }
)
# The names and messages of the document's error examples; 403, 429 and 500
# are listed by the document without an example [guess for those].
ERRORS = {
    400: ("ValidationError", "Message field is required"),
    401: ("UnauthorizedError", "Invalid or missing API token"),
    403: ("ForbiddenError", "This API token may not use this agent"),
    404: ("NotFoundError", "Agent with slug '{slug}' not found"),
    429: ("RateLimitError", "Rate limit exceeded. Try again later."),
    500: ("InternalServerError", "An unexpected error occurred"),
}
STREAM_ERROR_MESSAGE = "Simulated failure: the model provider did not answer."
UNKNOWN_FRAME = {"type": "usage", "secret": "<script>alert('fake')</script>"}
DIRECTIVE = re.compile(
    r"\[\[\s*(?:words\s*=\s*(?P<words>\d{1,9})|delay\s*=\s*(?P<delay>\d{1,5}(?:\.\d*)?)"
    r"|cid\s*=\s*(?P<cid>" + "|".join(CONVERSATION_ID_PLACES) + r")"
    r"|fail\s*:\s*(?P<fail>" + "|".join(sorted(FAILURE_MODES)) + r"|[45]\d\d))\s*\]\]",
    re.IGNORECASE,
)
DEFAULT_AGENTS = frozenset({"support-agent", "sales-bot", "customer-support"})


def reply_text(message: str, slug: str, turn: int, conversation_id: str, words: int | None) -> str:
    return demo_reply(
        message,
        turn,
        words,
        intro=f"This is a simulated Agent Chat API agent ({slug}), not a real model.",
        noun="conversation",
        bullets=[message_size(message), f"this conversation is `{conversation_id}`"],
    )


def frame(data: Any) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def envelope_error(status: int, *, slug: str = "", name: str = "", message: str = "", **details: Any) -> dict:
    default_name, default_message = ERRORS.get(status, ("Error", HTTPStatus(status).phrase))
    return {
        "data": None,
        "error": {
            "name": name or default_name,
            "message": message or default_message.format(slug=slug),
            "details": details,
        },
    }


class SlugChatFake(FakePlatform):
    """The Agent Chat API as an ASGI application. See the module docstring."""

    max_body_bytes = MAX_BODY_BYTES
    json_content_type = b"application/json; charset=utf-8"

    def __init__(self) -> None:
        # Replies being answered right now; a disconnected client's reply leaves promptly.
        self.active_replies = 0
        super().__init__()

    def reset(self) -> None:
        """Restore every setting to its default and forget conversations, requests and rate limits."""
        self.api_keys: set[str] = {"demo-key", "personal-key"}
        # [guess] The document allows `x-user-identifier` with a workspace key;
        # any other key sending it is refused with 403.
        self.workspace_keys: set[str] = {"demo-key"}
        self.agents: set[str] = set(DEFAULT_AGENTS)
        self.token_delay: float = 0.02
        # None: the natural reply (about a hundred tokens); a number: exactly that many tokens.
        self.reply_words: int | None = None
        self.failure: str | None = None
        # Where a stream names the conversation: one of CONVERSATION_ID_PLACES.
        self.conversation_id_in = "both"
        self.rate_limit = 1000
        self.rate_window = 60.0
        self.windows: dict[str, tuple[float, int]] = {}
        self.conversations: dict[str, int] = {}
        self.requests.clear()

    async def too_large(self, send: Send) -> None:
        await self._json(send, 413, envelope_error(413, name="PayloadTooLargeError"))

    async def route(self, request: Request, receive: Receive, send: Send) -> None:
        path = request.path
        slug = unquote(path[len(CHAT_PREFIX) :]) if path.startswith(CHAT_PREFIX) else ""
        if not slug or "/" in slug:
            message = f"Route {request.method} {path} not found"
            await self._json(send, 404, envelope_error(404, message=message))
            return
        if request.method != "POST":
            await self._json(
                send,
                405,
                envelope_error(405, name="MethodNotAllowedError", message="Use POST"),
                [(b"allow", b"POST")],
            )
            return
        await self._chat(slug, request.headers, request.raw, request.body, receive, send)

    # ------------------------------------------------------------------
    # Requests
    # ------------------------------------------------------------------

    def _rate_headers(self, key: str, *, exhausted: bool = False) -> tuple[list[tuple[bytes, bytes]], float]:
        """The rate-limit headers for `key` after this request, and the seconds until its window resets.

        `exhausted` answers as if the window were used up, without counting this request.

        [guess] `X-RateLimit-Reset` is the Unix time (seconds) when the window resets.
        """
        now = time.time()
        start, used = self.windows.get(key, (now, 0))
        if now - start >= self.rate_window:
            start, used = now, 0
        if not exhausted:
            used += 1
        self.windows[key] = (start, used)
        reset = start + self.rate_window
        remaining = 0 if exhausted else max(0, self.rate_limit - used)
        headers = [
            (b"x-ratelimit-limit", str(self.rate_limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(math.ceil(reset)).encode()),
        ]
        return headers, max(0.0, reset - now)

    # ------------------------------------------------------------------
    # Chat
    # ------------------------------------------------------------------

    @staticmethod
    def validation_error(raw: bytes, body: Any) -> dict[str, Any] | None:
        if not isinstance(body, dict):
            message = "Request body must be a JSON object" if raw else "Message field is required"
            return envelope_error(400, message=message)
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            return envelope_error(400, field="message")
        if len(message) > MAX_MESSAGE_CHARS:
            text = f"Message must be at most {MAX_MESSAGE_CHARS} characters"
            return envelope_error(400, message=text, field="message")
        if "stream" in body and not isinstance(body["stream"], bool):
            return envelope_error(400, message="stream must be a boolean", field="stream")
        conversation_id = body.get("conversationId")
        if conversation_id is not None and not isinstance(conversation_id, str):
            return envelope_error(400, message="conversationId must be a string", field="conversationId")
        return None

    async def _chat(
        self, slug: str, headers: dict[str, str], raw: bytes, body: Any, receive: Receive, send: Send
    ) -> None:
        # [guess] The order of the checks: key, rate limit, user identifier, agent, body.
        scheme, _, key = headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or key not in self.api_keys:
            await self._json(send, 401, envelope_error(401))
            return
        text = body.get("message") if isinstance(body, dict) else ""
        message, options = parse_directives(DIRECTIVE, text if isinstance(text, str) else "")
        failure = options.get("fail", self.failure)
        rate_headers, reset_in = self._rate_headers(key, exhausted=failure == "429")
        if failure == "429" or self.windows[key][1] > self.rate_limit:
            retry = [(b"retry-after", str(max(1, math.ceil(reset_in))).encode())]
            limit = {"limit": self.rate_limit, "window_seconds": self.rate_window}
            await self._json(send, 429, envelope_error(429, **limit), rate_headers + retry)
            return
        identifier = headers.get("x-user-identifier")
        if identifier is not None:
            if key not in self.workspace_keys:
                text = "x-user-identifier requires a workspace API token"
                await self._json(send, 403, envelope_error(403, message=text), rate_headers)
                return
            if not identifier.strip() or len(identifier) > MAX_USER_IDENTIFIER:
                text = f"x-user-identifier must be 1 to {MAX_USER_IDENTIFIER} characters"
                await self._json(send, 400, envelope_error(400, message=text), rate_headers)
                return
        if slug not in self.agents:
            await self._json(send, 404, envelope_error(404, slug=slug), rate_headers)
            return
        problem = self.validation_error(raw, body)
        if problem:
            await self._json(send, 400, problem, rate_headers)
            return
        if failure and failure.isdigit():
            await self._failure_status(send, int(failure), slug, rate_headers)
            return

        # [guess] An id the platform never issued starts a conversation under that id.
        conversation_id = body.get("conversationId") or f"conv_{uuid.uuid4().hex[:16]}"
        # [guess] With x-user-identifier, each user has their own turn count.
        thread = f"{identifier or ''}\n{conversation_id}"
        turn = self.conversations.pop(thread, 0) + 1
        self.conversations[thread] = turn
        if len(self.conversations) > MAX_CONVERSATIONS:
            del self.conversations[next(iter(self.conversations))]
        text = reply_text(message, slug, turn, conversation_id, options.get("words", self.reply_words))
        delay = options.get("delay", self.token_delay)

        disconnected = asyncio.Event()
        watcher = asyncio.create_task(self._watch_disconnect(receive, disconnected))
        self.active_replies += 1
        try:
            if body.get("stream"):
                place = options.get("cid", self.conversation_id_in)
                await self._stream(
                    conversation_id,
                    place,
                    TOKEN.findall(text),
                    failure,
                    delay,
                    rate_headers,
                    send,
                    disconnected,
                )
            else:
                await self._reply_json(
                    conversation_id, text, failure, delay, rate_headers, send, disconnected
                )
        finally:
            self.active_replies -= 1
            watcher.cancel()

    async def _failure_status(
        self, send: Send, status: int, slug: str, rate_headers: list[tuple[bytes, bytes]]
    ) -> None:
        if status in (502, 503, 504):
            # A gateway in front of the platform answers these, in its own words.
            payload = f"<html><body><h1>{status} {HTTPStatus(status).phrase}</h1></body></html>".encode()
            headers = [(b"content-type", b"text/html"), (b"content-length", str(len(payload)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        await self._json(send, status, envelope_error(status, slug=slug), rate_headers)

    async def _reply_json(
        self,
        conversation_id: str,
        text: str,
        failure: str | None,
        delay: float,
        rate_headers: list[tuple[bytes, bytes]],
        send: Send,
        disconnected: asyncio.Event,
    ) -> None:
        if failure == "hang":
            await disconnected.wait()
            return
        if failure == "huge":
            text = "x" * HUGE_CHUNK_BYTES
        if await self._wait(disconnected, min(delay * len(TOKEN.findall(text)), 5.0)):
            return
        if failure == "error":
            await self._json(send, 500, envelope_error(500, message=STREAM_ERROR_MESSAGE), rate_headers)
            return
        data = {
            "data": {
                "response": text,
                "conversationId": conversation_id,
                "metadata": {"model": MODEL, "tokens": len(TOKEN.findall(text))},
            },
            "error": None,
        }
        payload = json.dumps(data).encode()
        content_type = b"application/json; charset=utf-8"
        if failure == "malformed":
            payload, content_type = b"<html><body>Internal error</body></html>", b"text/html"
        start = {"type": "http.response.start", "status": 200}
        if failure in ("drop", "reset"):
            await send({**start, "headers": [(b"content-type", content_type), *rate_headers]})
            await send(
                {"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True}
            )
            if failure == "drop":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        length = (b"content-length", str(len(payload)).encode())
        await send({**start, "headers": [(b"content-type", content_type), length, *rate_headers]})
        await send({"type": "http.response.body", "body": payload})

    async def _stream(
        self,
        conversation_id: str,
        place: str,
        tokens: list[str],
        failure: str | None,
        delay: float,
        rate_headers: list[tuple[bytes, bytes]],
        send: Send,
        disconnected: asyncio.Event,
    ) -> None:
        async def emit(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            *rate_headers,
        ]
        if place in ("header", "both"):
            headers.append((b"x-conversation-id", conversation_id.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        first = b""
        if place in ("frame", "both"):
            first = frame({"conversationId": conversation_id})
        if failure == "bom":
            first = UTF8_BOM + first
        if first:
            await emit(first)
        middle = len(tokens) // 2
        hang_after = min(3, len(tokens))
        for index, token in enumerate(tokens):
            if index == middle:
                if failure in ("drop", "reset", "error"):
                    if failure == "error":
                        error = envelope_error(500, message=STREAM_ERROR_MESSAGE)["error"]
                        await emit(frame({"error": error}))
                    if failure != "reset":
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                if failure == "malformed":
                    await emit(b'data: {"chunk": oops\n\n')
                elif failure == "unknown":
                    await emit(frame(UNKNOWN_FRAME))
                elif failure == "huge":
                    await emit(frame({"chunk": "x" * HUGE_CHUNK_BYTES}))
            if index == hang_after and failure == "hang":
                await disconnected.wait()
                return
            await emit(frame({"chunk": token}))
            if index + 1 == len(tokens):
                break
            if failure == "heartbeat":
                # A comment and an empty event three times per pause keep a slow stream alive.
                for _ in range(3):
                    await emit(b": ping\n\ndata:\n\n")
                    if await self._wait(disconnected, delay / 3):
                        return
            elif await self._wait(disconnected, delay):
                return
        if failure == "hang":
            await disconnected.wait()
            return
        await emit(b"data: [DONE]\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
