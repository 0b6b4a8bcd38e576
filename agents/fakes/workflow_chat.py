"""A local stand-in for the B3OS "Caddie" workflow chat stream (PROTOCOLS.md B, seed 002).

`WorkflowChatFake` is a plain ASGI application serving
`POST /v1/ai/workflow/chat/stream`. Replies are data-only SSE frames whose kind
is in the JSON `type` (`thinking`, `tool_start`, `tool_result`, `node`, `chunk`,
`done`, `error`, `mode_switch`, `sheet_data`); heartbeats are `:` comment lines.

Replay [guess]: nothing public says how events are numbered. Every event here
carries `id: <n>` and `"index": n`, counted from 1 within one `requestId`, and
the whole reply of a request is kept, so a second POST with the same
`requestId`, `lastEventIndex = N` and no `message` receives the events after N.

Behaviour can be changed on the instance (`failure`, `token_delay`,
`reply_words`, `api_keys`, `heartbeat_interval`, `heartbeat_pause`) or per
message with directives, which the reply does not quote:

- `[[tool]]`          a tool_start/tool_result pair before the text
- `[[workflow]]`      mode_switch, node and sheet_data events, and a `done` carrying a workflow
                      (with one incomplete field and one validation error) instead of a message
- `[[named]]`         every frame also has an `event: <type>` line (the seed names the events)
- `[[ask]]`           the reply ends with a question block, `[[ASK]]{"questions": [...]}[[/ASK]]`
- `[[plan]]`          the reply ends with a plan block, `[[PLAN]]{"changes": [...]}[[/PLAN]]`
                      (both as the platform's client parses them: parse-caddie-blocks.ts)
- `[[legacy]]`        `done` in the shapes this fake sent before the platform's client was read:
                      `toolUtilization` an object, `incompleteFields` objects, `validationErrors`
                      strings (also `legacy = True` on the instance); by default they are the
                      client's types: an array of `{toolName, callCount, score}`, strings, and
                      `{nodeId, message}`
- `[[words=N]]`       a reply of exactly N word-ish tokens
- `[[delay=S]]`       S seconds between streamed tokens
- `[[fail:MODE]]`     one of FAILURE_MODES, or an HTTP status from 400 to 599;
                      `drop@N` / `reset@N` break the connection right after event N

Error bodies are text, as the seed's "400 Bad Request" suggests: plain text for
4xx, an HTML page for 5xx (what a gateway in front of the platform sends).
"""

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from agents.fakes.base import (
    TOKEN,
    FakePlatform,
    Receive,
    Request,
    Send,
    demo_reply,
    parse_directives,
)

PATH = "/v1/ai/workflow/chat/stream"
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)
# Room for `images`: 20 MB of images, base64-encoded.
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_CONVERSATIONS = 10_000
MAX_SESSIONS = 2_000

PREFERRED_MODES = ("planning", "building", "repair", "conversation")
AGENT_VERSIONS = ("v1", "v2", "both")
TEMPLATE_SEARCH_MODES = ("lightweight", "hybrid")

FAILURE_MODES = frozenset(
    {
        "drop",  # the body ends cleanly mid-reply without `done`, once; a replay completes it
        "reset",  # the connection is cut mid-reply (an unterminated chunked body), once
        "drop_always",  # like drop, and every replay of the request ends at once with nothing new
        "hang",  # a few events, then silence until the client goes away
        "malformed",  # one frame whose data is not JSON, mid-reply
        "error",  # an `error` frame mid-reply, then the stream ends
        "heartbeat",  # mid-reply, `heartbeat_pause` seconds of `: heartbeat` comments only
        "unknown",  # an event of a type nobody knows, carrying markup, mid-reply
    }
)
ERROR_MESSAGE = "Simulated failure: the workflow model did not answer."
UNKNOWN_EVENT = {"type": "something_new", "secret": "<script>alert('fake')</script>"}
# A question and a plan in the shapes the platform's client parses (parse-caddie-blocks.ts).
ASK_BLOCK = {
    "questions": [
        {
            "id": "network",
            "type": "chain-id",
            "label": "Which network should the workflow watch?",
            "required": True,
            "options": [
                {"value": "8453", "label": "Base", "description": "Low fees"},
                {"value": "1", "label": "Ethereum"},
                {"value": "42161", "label": "Arbitrum"},
            ],
        },
        {"id": "threshold", "type": "number", "label": "Alert threshold (USD)", "default": 2500},
    ]
}
PLAN_BLOCK = {
    "note": "A price alert in three nodes.",
    "changes": [
        {
            "action": "add",
            "nodeId": "trigger",
            "type": "schedule",
            "description": "Check the price every 5 minutes",
        },
        {
            "action": "add",
            "nodeId": "check",
            "type": "condition",
            "description": "Compare it with the threshold",
        },
        {"action": "update", "nodeId": "notify", "type": "slack", "description": "Post the alert to Slack"},
    ],
}
TEXT_ERRORS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
}
HTML_ERROR = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
DIRECTIVE = re.compile(
    r"\[\[\s*(?:(?P<flag>tool|workflow|named|ask|plan|legacy)|words\s*=\s*(?P<words>\d{1,9})|delay\s*=\s*(?P<delay>\d{1,5}(?:\.\d*)?)"
    r"|fail\s*:\s*(?P<fail>(?:drop|reset)@\d{1,6}|"
    + "|".join(sorted(FAILURE_MODES, key=len, reverse=True))
    + r"|[45]\d\d))"
    r"\s*\]\]",
    re.IGNORECASE,
)


def image_bytes(encoded: str) -> bytes | None:
    """The bytes of a base64 image, given bare or as a data URL [guess: either may come]."""
    if encoded.startswith("data:"):
        encoded = encoded.partition(",")[2]
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        return None


def image_kind(data: bytes) -> str:
    for signature, kind in IMAGE_SIGNATURES:
        if data.startswith(signature):
            return kind
    return "image/webp" if data[8:12] == b"WEBP" else "unknown"


def described_images(images: Any) -> list[str]:
    """How the reply names each image it received: its type, from its bytes, and size."""
    described = []
    for item in images if isinstance(images, list) else []:
        data = image_bytes(item.get("base64") or "") if isinstance(item, dict) else None
        if data is not None:
            described.append(f"{image_kind(data)} ({len(data)} bytes)")
        elif isinstance(item, dict) and item.get("ipfsUrl"):
            described.append(str(item["ipfsUrl"]))
    return described


def reply_text(message: str, turn: int, conversation_id: str, words: int | None) -> str:
    return demo_reply(
        message,
        turn,
        words,
        intro="This is a simulated Workflow chat (B3OS Caddie) agent, not a real model.",
        noun="conversation",
        heading="A workflow could look like this:",
        bullets=["a `manual` root node starts it", f"this conversation is `{conversation_id}`"],
        code=("json", '{"nodes": {"root": {"type": "manual", "children": ["notify"]}}}'),
    )


def sample_workflow(message: str) -> dict[str, Any]:
    return {
        "name": "Price alert",
        "description": f"Built from: {message[:80]}",
        "definition": {
            "nodes": {
                "root": {"type": "manual", "name": "Start manually", "children": ["fetch_price"]},
                "fetch_price": {
                    "type": "http_request",
                    "name": "Fetch the ETH price",
                    "children": ["notify"],
                },
                "notify": {"type": "send_telegram", "name": "Send a Telegram message", "children": []},
            }
        },
    }


class Session:
    """One `requestId`: every event of its reply, numbered from 1, and how it fails."""

    def __init__(self, events: list[dict[str, Any]], options: dict[str, Any], delay: float):
        self.events = events
        self.failure: str | None = options.get("fail")
        self.named = bool(options.get("named"))
        self.delay = delay
        self.broken = False
        # Before the event of this index come `heartbeat_pause` seconds of heartbeats only.
        self.pause_before: int | None = None
        self.break_after: int | None = None
        failure = self.failure or ""
        if failure.startswith(("drop", "reset")):
            mode, _, at = failure.partition("@")
            self.failure = mode
            self.break_after = int(at) if at else max(1, len(events) // 2)

    def frame(self, index: int) -> bytes:
        data = self.events[index - 1]
        head = f"event: {data['type']}\n" if self.named else ""
        return f"{head}id: {index}\ndata: {json.dumps(data)}\n\n".encode()


class WorkflowChatFake(FakePlatform):
    """The workflow chat stream as an ASGI application. See the module docstring."""

    max_body_bytes = MAX_BODY_BYTES

    def __init__(self) -> None:
        self.active_streams = 0
        super().__init__()

    def reset(self) -> None:
        """Restore every setting to its default and forget conversations, sessions and requests."""
        self.api_keys: set[str] = {"demo-key"}
        self.token_delay: float = 0.02
        self.reply_words: int | None = None
        self.failure: str | None = None
        self.legacy = False
        self.heartbeat_interval: float = 0.2
        self.heartbeat_pause: float = 1.0
        self.conversations: dict[str, int] = {}
        self.sessions: dict[str, Session] = {}
        self.requests.clear()

    async def too_large(self, send: Send) -> None:
        await self._text(send, 413, "Request body too large")

    async def route(self, request: Request, receive: Receive, send: Send) -> None:
        if request.path != PATH:
            await self._text(send, 404, "404 page not found")
            return
        if request.method != "POST":
            await self._text(send, 405, "Method Not Allowed", [(b"allow", b"POST")])
            return
        await self._chat(request.headers, request.body, receive, send)

    # ------------------------------------------------------------------

    @staticmethod
    async def _text(
        send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        payload = text.encode()
        content_type = b"text/html" if text.lstrip().startswith("<") else b"text/plain; charset=utf-8"
        headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
        await send({"type": "http.response.body", "body": payload})

    async def _status(self, send: Send, status: int, detail: str = "") -> None:
        """An error status: plain text for 4xx, a gateway's HTML page for 5xx."""
        if status >= 500:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            await self._text(send, status, HTML_ERROR.format(status=status, phrase=phrase))
            return
        extra = [(b"retry-after", b"1")] if status == 429 else []
        await self._text(send, status, detail or TEXT_ERRORS.get(status, "Error"), extra)

    @staticmethod
    def validation_problem(body: Any) -> str | None:
        """Why the body is a bad request, in the words a Go handler would use [guess]."""
        if not isinstance(body, dict):
            return "invalid request body"
        for name in ("message", "conversationId", "requestId", "timezone", "workflowId", "sessionId"):
            if name in body and not isinstance(body[name], str):
                return f"{name} must be a string"
        enums = {
            "preferredMode": PREFERRED_MODES,
            "agentVersion": AGENT_VERSIONS,
            "templateSearchMode": TEMPLATE_SEARCH_MODES,
        }
        for name, allowed in enums.items():
            if name in body and body[name] not in allowed:
                return f"{name} must be one of: {', '.join(allowed)}"
        if "lastEventIndex" in body and (
            not isinstance(body["lastEventIndex"], int) or body["lastEventIndex"] < 0
        ):
            return "lastEventIndex must be a non-negative integer"
        if "definition" in body:
            definition = body["definition"]
            nodes = definition.get("nodes") if isinstance(definition, dict) else None
            if not isinstance(nodes, dict):
                return "definition.nodes is required"
            root = nodes.get("root")
            if not isinstance(root, dict) or root.get("type") != "manual":
                return 'definition must contain a "root" node with type "manual"'
        return None

    @staticmethod
    def images_problem(images: Any) -> str | None:
        if images is None:
            return None
        if not isinstance(images, list):
            return "images must be a list"
        for item in images:
            if not isinstance(item, dict) or not isinstance(item.get("base64") or item.get("ipfsUrl"), str):
                return "each image needs base64 or ipfsUrl"
            if item.get("base64") and image_bytes(item["base64"]) is None:
                return "an image's base64 is not valid base64"
        return None

    async def _chat(self, headers: dict[str, str], body: Any, receive: Receive, send: Send) -> None:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or key.strip() not in self.api_keys:
            await self._status(send, 401)
            return
        problem = self.validation_problem(body) or self.images_problem(body.get("images"))
        if problem:
            await self._status(send, 400, problem)
            return
        request_id = body.get("requestId") or ""
        message = body.get("message") or ""
        session = self.sessions.get(request_id) if request_id else None
        if not message.strip():
            if session is None:
                if request_id and "lastEventIndex" in body:
                    await self._status(send, 404, "no session for this requestId")
                else:
                    await self._status(send, 400, "message is required for new sessions")
                return
            start = int(body.get("lastEventIndex") or 0)
        else:
            text, options = parse_directives(DIRECTIVE, message)
            options.setdefault("fail", self.failure)
            failure = options["fail"]
            if failure and failure.isdigit():
                await self._status(send, int(failure))
                return
            session = self._new_session(body, text, options)
            if request_id:
                self.sessions[request_id] = session
                if len(self.sessions) > MAX_SESSIONS:
                    del self.sessions[next(iter(self.sessions))]
            start = 0

        disconnected = asyncio.Event()
        watcher = asyncio.create_task(self._watch_disconnect(receive, disconnected))
        self.active_streams += 1
        try:
            await self._stream(session, start, send, disconnected)
        finally:
            self.active_streams -= 1
            watcher.cancel()

    def _new_session(self, body: dict[str, Any], text: str, options: dict[str, Any]) -> Session:
        # [guess] A conversation without a client id still gets one, so the fake keeps counting turns.
        conversation_id = body.get("conversationId") or f"anon-{uuid.uuid4()}"
        turn = self.conversations.pop(conversation_id, 0) + 1
        self.conversations[conversation_id] = turn
        if len(self.conversations) > MAX_CONVERSATIONS:
            del self.conversations[next(iter(self.conversations))]
        words = options.get("words", self.reply_words)
        reply = reply_text(text or "(an empty message)", turn, conversation_id, words)
        if options.get("ask"):
            reply += "\n\nBefore I build it:\n\n[[ASK]]\n" + json.dumps(ASK_BLOCK, indent=2) + "\n[[/ASK]]"
        if options.get("plan"):
            reply += "\n\nHere is my plan:\n\n[[PLAN]]" + json.dumps(PLAN_BLOCK) + "[[/PLAN]]"
        images = described_images(body.get("images"))
        if images:
            reply = f"I received {len(images)} image(s): {', '.join(images)}.\n\n{reply}"
        tokens = TOKEN.findall(reply)
        workflow = bool(options.get("workflow"))
        legacy = self.legacy or bool(options.get("legacy"))
        failure = options.get("fail")

        events: list[dict[str, Any]] = []
        pause_at: int | None = None
        if workflow:
            events.append({"type": "mode_switch", "mode": "building"})
        events.append({"type": "thinking", "message": "Reading your message"})
        if options.get("tool"):
            events.append({"type": "tool_start", "toolName": "search_templates"})
            events.append({"type": "tool_result", "toolName": "search_templates", "result": {"matches": 2}})
        middle = len(tokens) // 2
        for position, token in enumerate(tokens):
            if position == middle:
                if failure == "malformed":
                    events.append({"type": "raw", "raw": '{"type": "chunk", "data": oops'})
                elif failure == "unknown":
                    events.append(dict(UNKNOWN_EVENT))
                elif failure == "error":
                    events.append({"type": "error", "error": ERROR_MESSAGE})
                elif failure == "heartbeat":
                    pause_at = len(events) + 1
            events.append({"type": "chunk", "data": token})
        if workflow:
            result = sample_workflow(text)
            for node_id, node in result["definition"]["nodes"].items():
                events.append(
                    {"type": "node", "nodeId": node_id, "nodeType": node["type"], "name": node["name"]}
                )
            events.append({"type": "sheet_data", "rows": [["node", "type"]]})
            data: dict[str, Any] = {"type": "workflow", "workflow": result}
            if legacy:
                data["incompleteFields"] = [{"nodeId": "notify", "field": "chatId"}]
                data["validationErrors"] = ["notify: chatId is required"]
            else:
                data["incompleteFields"] = ["notify.chatId"]
                data["validationErrors"] = [{"nodeId": "notify", "message": "chatId is required"}]
        else:
            data = {"type": "message", "message": reply}
        calls = 1 if options.get("tool") else 0
        events.append(
            {
                "type": "done",
                "data": data,
                "usage": {"inputTokens": len(text.split()), "outputTokens": len(tokens)},
                "toolUtilization": {"search_templates": calls}
                if legacy
                else [{"toolName": "search_templates", "callCount": calls, "score": 1.0}],
            }
        )
        for index, event in enumerate(events, start=1):
            event["index"] = index
        session = Session(events, options, options.get("delay", self.token_delay))
        session.pause_before = pause_at
        return session

    async def _stream(self, session: Session, start: int, send: Send, disconnected: asyncio.Event) -> None:
        async def emit(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        async def finish() -> None:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        failure = session.failure
        if start > 0 and failure == "drop_always":
            await finish()
            return
        hang_after = 3
        for index in range(start + 1, len(session.events) + 1):
            event = session.events[index - 1]
            if failure == "hang" and index > hang_after:
                await disconnected.wait()
                return
            if index == session.pause_before and await self._heartbeats(emit, disconnected):
                return
            if event["type"] == "raw":
                await emit(f"id: {index}\ndata: {event['raw']}\n\n".encode())
            else:
                await emit(session.frame(index))
            if event["type"] == "error":
                await finish()
                return
            if session.break_after == index and (not session.broken or failure == "drop_always"):
                session.broken = True
                if failure != "reset":
                    await finish()
                # An unanswered `more_body` leaves the chunked body unterminated: a reset.
                return
            if event["type"] == "chunk" and await self._wait(disconnected, session.delay):
                return
        await finish()

    async def _heartbeats(
        self, emit: Callable[[bytes], Awaitable[None]], disconnected: asyncio.Event
    ) -> bool:
        """Only `: heartbeat` comments for `heartbeat_pause` seconds; True when the client left."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.heartbeat_pause
        while loop.time() < until:
            await emit(b": heartbeat\n\n")
            if await self._wait(disconnected, min(self.heartbeat_interval, max(0, until - loop.time()))):
                return True
        return False
