"""A local stand-in for AgentWeave chat via SSE (seed 004, PROTOCOLS.md D).

`AgentWeaveFake` is a plain ASGI application serving
`POST /api/v1/chat/agent/{agent_id}`. The key or token is the whole
`Authorization` header (no "Bearer"). Replies are data-only SSE frames
`{"action", "message", "agent_id", "result"}`: one `send_message.delta` per
token, `send_message.heartbeat` frames (no `message`) whenever the agent is
slower than `heartbeat_interval`, then `send_message.completed` whose content
is the full output. Threads are ULIDs made by the platform; the reply says
which turn of its thread it is.

Behaviour can be changed on the instance (`api_keys`, `failure`,
`token_delay`, `heartbeat_interval`, `reply_words`, `error_action`) or per
message with directives in `content`, which the reply does not quote:

- `[[words=N]]`            a reply of exactly N word-ish tokens
- `[[delay=S]]`            S seconds between tokens (heartbeats fill long pauses)
- `[[completed-differs]]`  the completed content is not the joined deltas
                           (a correction appended, as a platform might post-process)
- `[[fail:MODE]]`          one of FAILURE_MODES, `code=NNNNNN` (an error frame with
                           that `result.code` mid-reply), or an HTTP status 400-599

Uploads (PROTOCOLS.md D): `POST /upload_file` returns where to `PUT /uploads/{id}`
the bytes and the public URL `GET /files/{id}/{name}`; a chat whose
`file.file_url` names such a file says so in its reply.

Nothing public lists AgentWeave's error codes, its HTTP error bodies, the
action of an error frame or how it validates a request: those choices are
marked [guess].
"""

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from ulid import ULID

from agents.fakes.base import (
    TOKEN,
    FakePlatform,
    Receive,
    Request,
    Scope,
    Send,
    demo_reply,
    message_size,
    parse_directives,
)

SUCCESS_CODE = 201000
SUCCESS_MESSAGE = "Successfully."
MAX_BODY_BYTES = 21 * 1024 * 1024  # a file's PUT of up to 20 MB
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_THREADS = 10_000
MAX_FILES = 100
HUGE_EVENT_BYTES = 2 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"
CHAT_PATH = re.compile(r"^/api/v1/chat/agent/([^/]+)/?$")
UPLOAD_TARGET_PATH = re.compile(r"^/uploads/([0-9a-f]{32})$")
PUBLIC_FILE_PATH = re.compile(r"^/files/([0-9a-f]{32})/[^/]+$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
ULID_TEXT = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)

FAILURE_MODES = frozenset(
    {
        "drop",  # the body ends cleanly mid-reply, without send_message.completed
        "reset",  # the connection is cut mid-reply (an unterminated chunked body)
        "hang",  # a few tokens, then silence (no heartbeats) until the client goes away
        "malformed",  # one frame whose data is not JSON, mid-reply
        "unknown",  # a frame with an action nobody knows, carrying markup, mid-reply
        "heartbeat",  # a heartbeat frame after every delta
        "bom",  # the body starts with a UTF-8 byte order mark
        "huge",  # one delta of 2 MiB
    }
)
# [guess] Error codes follow the success code's pattern: an HTTP status and three digits.
ERROR_CODES = {
    400000: "Invalid request parameters.",
    401000: "Invalid user access token or api key.",
    402000: "Insufficient credits.",
    403000: "No permission to use this agent.",
    404000: "Agent not found.",
    429000: "Too many requests, please try again later.",
    500000: "Internal server error.",
    503000: "The agent is temporarily unavailable.",
}
UNKNOWN_FRAME = {
    "action": "send_message.something_new",
    "message": {"content": "<script>alert('fake')</script>"},
    "result": {"code": SUCCESS_CODE, "message": SUCCESS_MESSAGE},
}
COMPLETED_CORRECTION = "\n\n_(Edited after streaming: this line is only in the completed message.)_"
DIRECTIVE = re.compile(
    r"\[\[\s*(?:(?P<flag>completed-differs)|words\s*=\s*(?P<words>\d{1,9})|delay\s*=\s*(?P<delay>\d{1,5}(?:\.\d*)?)"
    r"|fail\s*:\s*(?P<fail>" + "|".join(sorted(FAILURE_MODES)) + r"|[45]\d\d|code\s*=\s*\d{1,9}))\s*\]\]",
    re.IGNORECASE,
)


def reply_text(message: str, turn: int, thread_id: str, words: int | None, attachment: str = "") -> str:
    return demo_reply(
        message,
        turn,
        words,
        intro="This is a simulated AgentWeave agent, not a real model.",
        noun="thread",
        bullets=[
            message_size(message),
            f"this thread is `{thread_id}`",
            *([f"you attached {attachment}"] if attachment else []),
        ],
    )


def envelope(code: int, message: str) -> dict[str, Any]:
    # [guess] HTTP error bodies use the same `result` envelope as the frames.
    return {"result": {"code": code, "message": message}}


class Reply:
    """One chat call: the ids its frames carry and how it should misbehave."""

    def __init__(self, agent_id: str, body: dict[str, Any], thread_id: str, options: dict[str, Any]):
        self.agent_id = agent_id
        self.client_message_id = body.get("id") or str(uuid.uuid4())
        self.output_type = body.get("type", "text")
        self.thread_id = thread_id
        self.output_id = str(uuid.uuid4())
        self.failure: str | None = options.get("fail")
        self.completed_differs = bool(options.get("completed_differs"))

    def frame_data(self, action: str, content: str | None, code: int = SUCCESS_CODE, said: str = "") -> bytes:
        data: dict[str, Any] = {"action": action}
        if content is not None:
            data["message"] = {
                "agent_id": self.agent_id,
                "client_message_id": self.client_message_id,
                "content": content,
                "speech_content": {},
                "from": "assistant",
                "id": self.output_id,
                "thread_id": self.thread_id,
                "timestamp": int(time.time() * 1000),
                "type": self.output_type,
                "user_id": self.agent_id,
            }
        data["agent_id"] = self.agent_id
        data["result"] = {"code": code, "message": said or SUCCESS_MESSAGE}
        return frame(data)


def frame(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


class AgentWeaveFake(FakePlatform):
    """AgentWeave chat via SSE as an ASGI application. See the module docstring."""

    max_body_bytes = MAX_BODY_BYTES

    def reset(self) -> None:
        """Restore every setting to its default and forget threads and requests."""
        self.api_keys: set[str] = {"demo-key"}
        self.token_delay: float = 0.02
        self.heartbeat_interval: float = 5.0
        self.reply_words: int | None = None
        self.failure: str | None = None
        # [guess] The action an error frame carries; clients should look at result.code only.
        self.error_action = "send_message.error"
        self.threads: dict[str, int] = {}
        # Uploaded files by id: name, type, declared size and hash, and the bytes once PUT.
        self.files: dict[str, dict[str, Any]] = {}
        self.active_replies = 0
        self.requests.clear()

    async def too_large(self, send: Send) -> None:
        await self._json(send, 413, envelope(413000, "Request body too large."))

    async def route(self, request: Request, receive: Receive, send: Send) -> None:
        path, method = request.path, request.method
        if path == "/upload_file" and method == "POST":
            await self._upload_request(request.scope, request.headers, request.body, send)
            return
        target = UPLOAD_TARGET_PATH.match(path)
        if target and method == "PUT":
            await self._upload_bytes(target.group(1), request.headers, request.raw, send)
            return
        public = PUBLIC_FILE_PATH.match(path)
        if public and method == "GET" and self.files.get(public.group(1), {}).get("data") is not None:
            found = self.files[public.group(1)]
            extra = [(b"content-type", found["file_type"].encode("latin-1"))]
            await send({"type": "http.response.start", "status": 200, "headers": extra})
            await send({"type": "http.response.body", "body": found["data"]})
            return
        match = CHAT_PATH.match(path)
        if match is None:
            await self._json(send, 404, envelope(404000, "Not found."))
            return
        if method != "POST":
            await self._json(send, 405, envelope(405000, "Method not allowed."), [(b"allow", b"POST")])
            return
        await self._chat(unquote(match.group(1)), request.headers, request.body, receive, send)

    # ------------------------------------------------------------------
    # Requests
    # ------------------------------------------------------------------

    @staticmethod
    def validation_problem(body: Any) -> str | None:
        """[guess] What the platform would refuse in a body, following the document's field list."""
        if not isinstance(body, dict):
            return "The request body must be a JSON object."
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            return "content is required."
        if body.get("type") not in ("text", "media"):
            return "type must be text or media."
        if "id" in body and not (isinstance(body["id"], str) and UUID_TEXT.match(body["id"])):
            return "id must be a uuidv4."
        thread_id = body.get("thread_id")
        if thread_id not in (None, "") and not (isinstance(thread_id, str) and ULID_TEXT.match(thread_id)):
            return "thread_id must be a ULID."
        if body.get("org_id") and body.get("pay_account") not in ("Person", "Org"):
            return "pay_account is required with org_id and must be Person or Org."
        file = body.get("file")
        if file is not None and not (isinstance(file, dict) and isinstance(file.get("file_url", ""), str)):
            return "file must be an object with a file_url."
        return None

    async def _chat(
        self, agent_id: str, headers: dict[str, str], body: Any, receive: Receive, send: Send
    ) -> None:
        if headers.get("authorization", "").strip() not in self.api_keys:
            await self._json(send, 401, envelope(401000, ERROR_CODES[401000]))
            return
        problem = self.validation_problem(body)
        if problem:
            await self._json(send, 400, envelope(400000, problem))
            return
        if agent_id.startswith("missing"):
            await self._json(send, 404, envelope(404000, ERROR_CODES[404000]))
            return
        message, options = parse_directives(DIRECTIVE, body["content"])
        options.setdefault("fail", self.failure)
        failure = options["fail"]
        if failure and failure.isdigit():
            status = int(failure)
            said = ERROR_CODES.get(status * 1000) or HTTPStatus(status).phrase
            extra = [(b"retry-after", b"1")] if status == 429 else []
            await self._json(send, status, envelope(status * 1000, said), extra)
            return

        thread_id = body.get("thread_id") or str(ULID())
        turn = self.threads.pop(thread_id, 0) + 1
        self.threads[thread_id] = turn
        if len(self.threads) > MAX_THREADS:
            del self.threads[next(iter(self.threads))]
        words = options.get("words", self.reply_words)
        text = reply_text(message or "(no text)", turn, thread_id, words, self.attachment(body))
        reply = Reply(agent_id, body, thread_id, options)

        disconnected = asyncio.Event()
        watcher = asyncio.create_task(self._watch_disconnect(receive, disconnected))
        self.active_replies += 1
        try:
            await self._stream(reply, text, options.get("delay", self.token_delay), send, disconnected)
        finally:
            self.active_replies -= 1
            watcher.cancel()

    def attachment(self, body: dict[str, Any]) -> str:
        """How the reply names the file in `file.file_url`, if the chat has one."""
        url = (body.get("file") or {}).get("file_url") or ""
        if not url:
            return ""
        for file_id, found in self.files.items():
            if f"/files/{file_id}/" in url and found.get("data") is not None:
                return f"“{found['file_name']}” ({len(found['data'])} bytes)"
        return f"a file at {url} that could not be fetched"

    # ------------------------------------------------------------------
    # Uploads [guess: the shapes beyond PROTOCOLS.md D are ours]
    # ------------------------------------------------------------------

    async def _upload_request(self, scope: Scope, headers: dict[str, str], body: Any, send: Send) -> None:
        if headers.get("authorization", "").strip() not in self.api_keys:
            await self._json(send, 401, envelope(401000, ERROR_CODES[401000]))
            return
        data = body.get("request_data") if isinstance(body, dict) else None
        problem = None
        if not isinstance(data, dict) or body.get("request_type") != "upload_file":
            problem = "request_type must be upload_file, with request_data."
        elif not all(
            isinstance(data.get(key), str) and data[key] for key in ("agent_id", "file_name", "file_type")
        ):
            problem = "agent_id, file_name and file_type are required."
        elif not isinstance(data.get("file_size"), int) or not 0 < data["file_size"] <= MAX_FILE_BYTES:
            problem = f"file_size must be between 1 and {MAX_FILE_BYTES} bytes."
        elif not isinstance(data.get("hash"), str) or not SHA256_HEX.match(data["hash"]):
            problem = "hash must be the file's sha256 in hex."
        elif data.get("category") != "chat":
            problem = "category must be chat."
        if problem:
            await self._json(send, 400, envelope(400000, problem))
            return
        file_id = uuid.uuid4().hex
        self.files[file_id] = {key: data[key] for key in ("file_name", "file_type", "file_size", "hash")}
        self.files[file_id]["data"] = None
        if len(self.files) > MAX_FILES:
            del self.files[next(iter(self.files))]
        host = headers.get("host", "127.0.0.1")
        base = f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"
        name = re.sub(r"[^A-Za-z0-9._-]", "_", data["file_name"])
        answer = {
            "id": file_id,
            "upload": f"{base}/uploads/{file_id}",
            "public": f"{base}/files/{file_id}/{name}",
            "thread_id": data.get("thread_id") or str(ULID()),
        }
        await self._json(send, 200, {"data": answer, **envelope(SUCCESS_CODE, SUCCESS_MESSAGE)})

    async def _upload_bytes(self, file_id: str, headers: dict[str, str], raw: bytes, send: Send) -> None:
        found = self.files.get(file_id)
        if found is None:
            await self._json(send, 404, envelope(404000, "No such upload."))
            return
        if headers.get("content-type") != found["file_type"]:
            await self._json(send, 400, envelope(400000, "Content-Type does not match file_type."))
            return
        if len(raw) != found["file_size"] or hashlib.sha256(raw).hexdigest() != found["hash"]:
            await self._json(send, 400, envelope(400000, "The bytes do not match file_size and hash."))
            return
        found["data"] = raw
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def _pause(
        self,
        reply: Reply,
        seconds: float,
        emit: Callable[[bytes], Awaitable[None]],
        disconnected: asyncio.Event,
    ) -> bool:
        """Wait `seconds`, sending a heartbeat after every `heartbeat_interval`; True on disconnect."""
        interval = max(self.heartbeat_interval, 0.01)
        while seconds > interval:
            if await self._wait(disconnected, interval):
                return True
            await emit(reply.frame_data("send_message.heartbeat", None))
            seconds -= interval
        return await self._wait(disconnected, seconds)

    async def _stream(
        self, reply: Reply, text: str, delay: float, send: Send, disconnected: asyncio.Event
    ) -> None:
        async def emit(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        async def end() -> None:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        failure = reply.failure or ""
        if failure == "bom":
            await emit(UTF8_BOM)
        tokens = TOKEN.findall(text)
        middle = len(tokens) // 2
        hang_after = min(3, len(tokens))
        for index, token in enumerate(tokens):
            if index == middle:
                if failure in ("drop", "reset"):
                    if failure == "drop":
                        await end()
                    return
                if failure.startswith("code="):
                    code = int(failure[5:])
                    said = ERROR_CODES.get(code, "Simulated failure.")
                    await emit(reply.frame_data(self.error_action, None, code, said))
                    await end()
                    return
                if failure == "malformed":
                    await emit(b'data: {"action": "send_message.delta", "message": oops\n\n')
                elif failure == "unknown":
                    await emit(frame(UNKNOWN_FRAME))
                elif failure == "huge":
                    await emit(reply.frame_data("send_message.delta", "x" * HUGE_EVENT_BYTES))
            if index == hang_after and failure == "hang":
                await disconnected.wait()
                return
            await emit(reply.frame_data("send_message.delta", token))
            if failure == "heartbeat":
                await emit(reply.frame_data("send_message.heartbeat", None))
            if index + 1 < len(tokens) and await self._pause(reply, delay, emit, disconnected):
                return
        if failure == "hang":
            await disconnected.wait()
            return
        completed = text + COMPLETED_CORRECTION if reply.completed_differs else text
        await emit(reply.frame_data("send_message.completed", completed))
        await end()
