"""A local stand-in for the SketricGen platform (PROTOCOLS.md A, seeds 000 and 001).

`SketricGenFake` is a plain ASGI application serving `POST /api/v1/run-workflow`
(JSON and AG-UI over SSE), the read-only part of the Admin API under
`/admin/v1`, and the three-step file upload (`/publicAssetsUploadInit`, a
presigned S3-style POST to `/s3-upload`, `/publicAssetsUploadComplete`).
The tests, the benchmarks and the demo all talk to it over real HTTP, and the
official `sketricgen` SDK runs against it in a test, so what it sends follows
the SDK's models and the platform's documents, not our adapter.

Behaviour can be changed on the instance (`failure`, `token_delay`,
`reply_words`, `api_keys`, `key_access`, `legacy`, `hold_open_after_end`,
`agents`) or per message with directives in `user_input`, which the reply does
not quote:

- `[[tool]]`          a tool call mid-reply: TOOL_CALL_START, its arguments in two
                      TOOL_CALL_ARGS, TOOL_CALL_END, and the text goes on in a new message;
                      with `[[camel]]` also AG-UI's TOOL_CALL_RESULT
- `[[words=N]]`       a reply of exactly N word-ish tokens
- `[[delay=S]]`       S seconds between streamed tokens
- `[[camel]]`         standard AG-UI: camelCase keys (`threadId`, `messageId`, ...) and
                      custom events typed `CUSTOM`
- `[[lower]]`         lower-case event types (an older version of the document)
- `[[stamp]]`         each text delta starts with its send time, `time.time_ns()` and a
                      space (for benchmarks: latency = receive time - stamp)
- `[[hitl]]`          with `enable_hitl`, the run pauses halfway for decisions on two
                      actions; `hitl_resume` with those decisions finishes it. Streams send
                      the documented CUSTOM_EVENT `deep_agents_hitl` (its `value` the
                      request [guess: the payload is not published]) then a bare
                      RUN_PAUSED_HITL; JSON sends `run_paused_hitl` + `hitl_request`.
- `[[hitl=N]]`        as `[[hitl]]`, and each resumed run pauses again halfway until the
                      conversation's runs have paused N times (1-9)
- `[[cite]]`          the reply cites two web sources (`web_search_citations`)
- `[[asset]]`         the run returns a file (`assets`)
- `[[credits]]`       the run halts halfway, out of credits: RUN_HALTED_OUT_OF_CREDITS in
                      streams, `run_halted_out_of_credits` in JSON
- `[[workspace]]`     a CUSTOM_EVENT `deep_agents_workspace` (the agent wrote a file) before
                      the text [guess: the payload is not published]
- `[[hold]]`          the stream stays open for 30 s after its terminal event (or until the
                      client leaves): a client must stop reading at the event, as documented
- `[[legacy]]`        the shapes this fake sent before the current document: the request
                      on RUN_PAUSED_HITL itself, out of credits as a CUSTOM event before
                      RUN_FINISHED, no TOOL_CALL_ARGS (also `legacy = True` on the instance)
                      [guess] Streams carry `web_search_citations` and `assets` as custom
                      events `{name: <JSON field>, value}` just before RUN_FINISHED.
- `[[fail:MODE]]`     one of FAILURE_MODES, or an HTTP status from 400 to 599

Where nothing public says what the platform does (failures in JSON mode, the
admin error codes, the pagination token) the choice is marked [guess].
"""

import asyncio
import email.parser
import email.policy
import hashlib
import json
import posixpath
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from copy import deepcopy
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

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

MAX_USER_INPUT = 10_000
MAX_CONTACT_ID = 255
MAX_BODY_BYTES = 1024 * 1024
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_BODY_BYTES = MAX_FILE_BYTES + 64 * 1024
MAX_UPLOADS = 1000
# The platform's allow-list as the SDK has it (a part of it), by extension: the init
# step decides the content type from the file name's extension, as the SDK does.
UPLOAD_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
    ".csv": "text/csv",
    ".json": "application/json",
    ".md": "text/markdown",
    ".txt": "text/plain",
    ".py": "text/x-python",
}
MAX_CONVERSATIONS = 10_000
HUGE_EVENT_BYTES = 2 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"

FAILURE_MODES = frozenset(
    {
        "drop",  # the body ends cleanly mid-reply, without RUN_FINISHED
        "reset",  # the connection is cut mid-reply (an unterminated chunked body)
        "hang",  # a few tokens, then silence until the client goes away
        "malformed",  # one frame whose data is not JSON, mid-reply
        "run_error",  # RUN_ERROR with a message mid-reply, then the stream ends
        "bom",  # the body starts with a UTF-8 byte order mark
        "heartbeat",  # `: ping` comments and `id:` lines with extra blank lines between tokens
        "unknown",  # an event of a type nobody knows, carrying markup, mid-reply
        "huge",  # one TEXT_MESSAGE_CONTENT event of 2 MiB
    }
)
STATUS_DETAILS = {
    400: "Bad request",
    401: "Invalid or missing API key",
    403: "This key may not run this agent",
    404: "Agent not found",
    429: "Rate limit exceeded. Try again later.",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable",
    504: "Gateway timeout",
}
RUN_ERROR_MESSAGE = "Simulated failure: the model provider did not answer."
HOLD_SECONDS = 30.0
TOOL_ARGUMENTS = ('{"query": "server-sent', ' events AG-UI", "max_results": 3}')
# The search's three results, as a search tool returns them: long enough that a page folds it.
TOOL_RESULT = json.dumps(
    [
        {
            "title": "AG-UI protocol: events",
            "url": "https://docs.ag-ui.com/concepts/events",
            "snippet": "Events are the fundamental units of communication between agents and frontends: "
            "lifecycle events, text message events, tool call events and state management events.",
        },
        {
            "title": "Server-sent events - HTML Living Standard",
            "url": "https://html.spec.whatwg.org/multipage/server-sent-events.html",
            "snippet": "To enable servers to push data to web pages over HTTP or using dedicated "
            "server-push protocols, this specification introduces the EventSource interface.",
        },
        {
            "title": "Using server-sent events",
            "url": "https://developer.mozilla.org/en-US/docs/Web/API/Server-sent_events",
            "snippet": "Developing a web application that uses server-sent events is straightforward: "
            "the server sends a text/event-stream and the browser reads it with an EventSource.",
        },
    ]
)
WORKSPACE_ACTIVITY = {"action": "write_file", "path": "/workspace/notes/summary.md"}
# [guess] How the platform words a refusal for a key without the needed access.
NO_RUN_ACCESS = "This API key does not have Run agents access"
NO_MANAGE_ACCESS = "This API key does not have Manage resources access"
UNKNOWN_EVENT = {"type": "SOMETHING_NEW", "secret": "<script>alert('fake')</script>"}
DIRECTIVE = re.compile(
    r"\[\[\s*(?:(?P<flag>tool|camel|lower|stamp|hitl|cite|asset|credits|workspace|legacy|hold)|hitl\s*=\s*(?P<pauses>[1-9])|words\s*=\s*(?P<words>\d{1,9})|delay\s*=\s*(?P<delay>\d{1,5}(?:\.\d*)?)"
    r"|fail\s*:\s*(?P<fail>" + "|".join(sorted(FAILURE_MODES)) + r"|[45]\d\d))\s*\]\]",
    re.IGNORECASE,
)

DEFAULT_TEAMSPACE = {
    "teamspace_id": "ts_demo",
    "slug": "demo",
    "display_name": "Demo Teamspace",
    "subscription_plan": "pro",
}
DEFAULT_PROJECTS = [
    {
        "project_id": "proj_demo",
        "teamspace_id": "ts_demo",
        "slug": "default",
        "display_name": "Default project",
        "is_default": True,
    }
]
DEFAULT_AGENTS = [
    {
        "agent_id": "agent_demo_helpdesk",
        "name": "Helpdesk",
        "agent_type": "workflow",
        "agent_status": "published",
        "teamspace_id": "ts_demo",
        "project_id": "proj_demo",
        "created_at": "2026-01-05T09:00:00Z",
        "last_updated": "2026-02-01T12:30:00Z",
        "is_draft": False,
        "last_published_at": "2026-02-01T12:30:00Z",
    },
    {
        "agent_id": "agent_demo_analyst",
        "name": "Sales analyst",
        "agent_type": "workflow",
        "agent_status": "published",
        "teamspace_id": "ts_demo",
        "project_id": "proj_demo",
        "created_at": "2026-01-07T10:00:00Z",
        "last_updated": "2026-01-20T08:15:00Z",
        "is_draft": False,
        "last_published_at": "2026-01-20T08:15:00Z",
    },
    {
        "agent_id": "agent_demo_draft",
        "name": "Onboarding (draft)",
        "agent_type": "brand_agent",
        "agent_status": "draft",
        "teamspace_id": "ts_demo",
        "project_id": "proj_demo",
        "created_at": "2026-02-10T16:45:00Z",
        "last_updated": "2026-02-10T16:45:00Z",
        "is_draft": True,
        "last_published_at": None,
    },
]


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def reply_text(message: str, turn: int, conversation_id: str, words: int | None) -> str:
    return demo_reply(
        message,
        turn,
        words,
        intro="This is a simulated SketricGen agent, not a real model.",
        noun="conversation",
        bullets=[message_size(message), f"this conversation is `{conversation_id}`"],
    )


def hitl_request(conversation_id: str, run_id: str) -> dict[str, Any]:
    """A paused run's request for decisions, shaped as the SDK's HitlRequest."""
    return {
        "schema_version": 1,
        "request_id": new_id("hitl"),
        "thread_id": conversation_id,
        "run_id": run_id,
        "interrupt_ids": [new_id("int"), new_id("int")],
        "action_requests": [
            {
                "name": "send_email",
                "args": {"to": "team@example.com", "subject": "Weekly summary", "body": "Numbers are up 4%."},
            },
            {"name": "create_ticket", "args": {"title": "Follow up on the summary", "priority": "high"}},
        ],
        "review_configs": [
            {"allowed_decisions": ["approve", "reject", "respond"]},
            {"allowed_decisions": ["approve", "reject"]},
        ],
        "paused_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "pending",
    }


def resumed_text(request: dict[str, Any], decisions: list[dict[str, Any]]) -> str:
    """What the user's message "was" for a resumed run: the decisions, in words."""
    said = {"approve": "approved", "reject": "rejected", "respond": "answered"}
    parts = []
    for action, decision in zip(request["action_requests"], decisions, strict=True):
        words = f"{action['name']} {said[decision['type']]}"
        if decision["type"] == "respond":
            words += f" with {decision['message']!r}"
        parts.append(words)
    return "Resumed after your decisions: " + "; ".join(parts)


CITATIONS = [
    {
        "title": "Server-sent events - HTML Living Standard",
        "url": "https://html.spec.whatwg.org/multipage/server-sent-events.html",
    },
    {"title": "AG-UI protocol: events", "url": "https://docs.ag-ui.com/concepts/events"},
]


def returned_asset(run_id: str) -> dict[str, Any]:
    file_id = f"file_{run_id.removeprefix('run_')}"
    return {
        "file_id": file_id,
        "url": f"https://assets.sketricgen.example/{file_id}/summary.pdf",
        "content_type": "application/pdf",
    }


class Run:
    """One run-workflow call: the options it was given and how its events are spelled."""

    def __init__(self, conversation_id: str, options: dict[str, Any], delay: float, legacy: bool = False):
        self.conversation_id = conversation_id
        self.run_id = new_id("run")
        self.legacy = legacy or bool(options.get("legacy"))
        self.workspace = bool(options.get("workspace"))
        self.hold = bool(options.get("hold"))
        self.camel = bool(options.get("camel"))
        self.lower = bool(options.get("lower"))
        self.tool = bool(options.get("tool"))
        self.stamp = bool(options.get("stamp"))
        self.hitl_request: dict[str, Any] | None = None
        self.failure: str | None = options.get("fail")
        self.delay = delay
        self.out_of_credits = bool(options.get("credits"))
        self.citations = CITATIONS if options.get("cite") else None
        self.assets = [returned_asset(self.run_id)] if options.get("asset") else []

    def results(self) -> dict[str, Any]:
        """What the run produced beyond its text, as the JSON reply's fields."""
        return {
            "assets": self.assets,
            "run_halted_out_of_credits": self.out_of_credits,
            "web_search_citations": self.citations,
        }

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        data: dict[str, Any] = {"type": kind.lower() if self.lower else kind, "timestamp": int(time.time())}
        for key, value in fields.items():
            data[camel(key) if self.camel else key] = value
        return data

    def custom(self, name: str, value: Any) -> dict[str, Any]:
        """A named side-channel event: CUSTOM_EVENT as documented, CUSTOM in standard AG-UI."""
        kind = "CUSTOM" if self.camel or self.legacy else "CUSTOM_EVENT"
        return self.event(kind, name=name, value=value)

    @staticmethod
    def frame(data: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(data).encode() + b"\n\n"


class SketricGenFake(FakePlatform):
    """The SketricGen platform as an ASGI application. See the module docstring."""

    max_body_bytes = MAX_BODY_BYTES

    def __init__(self) -> None:
        # Runs being answered right now; a disconnected client's run leaves promptly.
        self.active_runs = 0
        super().__init__()

    def reset(self) -> None:
        """Restore every setting to its default and forget conversations and requests."""
        self.api_keys: set[str] = {"demo-key"}
        # A key listed here has only this access ("run" or "manage"); other keys have both.
        self.key_access: dict[str, str] = {}
        self.legacy = False
        # Seconds a stream stays open after its terminal event (the document: clients stop reading there).
        self.hold_open_after_end: float = 0.0
        self.token_delay: float = 0.02
        # None: the natural reply (about a hundred tokens); a number: exactly that many tokens.
        self.reply_words: int | None = None
        self.failure: str | None = None
        self.user_id = "user_fake_0001"
        self.owner = "Demo Teamspace"
        self.teamspace: dict[str, Any] = deepcopy(DEFAULT_TEAMSPACE)
        self.projects: list[dict[str, Any]] = deepcopy(DEFAULT_PROJECTS)
        self.agents: list[dict[str, Any]] = deepcopy(DEFAULT_AGENTS)
        self.agents_page_size = 2
        self.pending_hitl: dict[str, dict[str, Any]] = {}
        # How many more times a conversation's resumed runs pause (`[[hitl=N]]`).
        self.pauses_left: dict[str, int] = {}
        self.conversations: dict[str, int] = {}
        # Uploads by file id: what init promised, and what arrived.
        self.uploads: dict[str, dict[str, Any]] = {}
        self.upload_failure: str | None = None  # "init", "s3" or "complete": that step answers 500
        self.upload_delay: float = 0.0  # seconds the init step takes
        self.requests.clear()

    def body_limit(self, path: str) -> int:
        return MAX_UPLOAD_BODY_BYTES if path == "/s3-upload" else MAX_BODY_BYTES

    async def too_large(self, send: Send) -> None:
        await self._json(send, 413, {"detail": "Request body too large"})

    async def route(self, request: Request, receive: Receive, send: Send) -> None:
        path, method = request.path, request.method
        if (
            path in ("/publicAssetsUploadInit", "/publicAssetsUploadComplete", "/s3-upload")
            and method == "POST"
        ):
            await self._upload_step(path, request.scope, request.headers, request.raw, request.body, send)
        elif path == "/api/v1/run-workflow":
            if method != "POST":
                await self._json(send, 405, {"detail": "Method Not Allowed"}, [(b"allow", b"POST")])
                return
            await self._run_workflow(request.headers, request.raw, request.body, receive, send)
        elif path.startswith("/admin/v1/"):
            await self._admin(method, path.removeprefix("/admin/v1"), request.scope, request.headers, send)
        else:
            await self._json(send, 404, {"detail": "Not Found"})

    # ------------------------------------------------------------------
    # Requests
    # ------------------------------------------------------------------

    # ------------------------------------------------------------------
    # File upload (PROTOCOLS.md A). [guess] The error bodies are
    # `{"success": false, "message"}`, as the SDK's APIErrorResponse has them;
    # the S3 step answers S3's XML errors.
    # ------------------------------------------------------------------

    async def _upload_step(
        self, path: str, scope: Scope, headers: dict[str, str], raw: bytes, body: Any, send: Send
    ) -> None:
        step = {"/publicAssetsUploadInit": "init", "/s3-upload": "s3"}.get(path, "complete")
        if self.upload_failure == step:
            await self._json(
                send, 500, {"success": False, "message": f"Simulated failure of the {step} step"}
            )
            return
        if step == "s3":
            await self._s3_upload(headers, raw, send)
            return
        if headers.get("x-api-key") not in self.api_keys:
            await self._json(send, 401, {"success": False, "message": "Invalid or missing API key"})
            return
        required = ("agent_id", "file_name") if step == "init" else ("agent_id", "file_id")
        if not isinstance(body, dict) or not all(
            isinstance(body.get(key), str) and body[key].strip() for key in required
        ):
            await self._json(
                send, 400, {"success": False, "message": " and ".join(required) + " are required"}
            )
            return
        if step == "init":
            await asyncio.sleep(self.upload_delay)
            await self._upload_init(scope, headers, body, send)
        else:
            await self._upload_complete(body, send)

    async def _upload_init(
        self, scope: Scope, headers: dict[str, str], body: dict[str, Any], send: Send
    ) -> None:
        file_name = posixpath.basename(body["file_name"])
        content_type = UPLOAD_TYPES.get(posixpath.splitext(file_name)[1].lower())
        if content_type is None:
            await self._json(
                send,
                400,
                {
                    "success": False,
                    "message": f"Unsupported file type: {file_name}",
                    "allowed_types": sorted(set(UPLOAD_TYPES.values())),
                },
            )
            return
        file_id = new_id("file")
        key = f"uploads/{body['agent_id'].strip()}/{file_id}/{file_name}"
        fields = {
            "key": key,
            "Content-Type": content_type,
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": "FAKEKEY/20260101/us-east-1/s3/aws4_request",
            "x-amz-date": "20260101T000000Z",
            "policy": uuid.uuid4().hex,
            "x-amz-signature": uuid.uuid4().hex,
        }
        self.uploads[file_id] = {
            "agent_id": body["agent_id"].strip(),
            "file_name": file_name,
            "content_type": content_type,
            "fields": fields,
            "size": 0,
            "sha256": "",
            "uploaded": False,
            "completed": False,
        }
        if len(self.uploads) > MAX_UPLOADS:
            del self.uploads[next(iter(self.uploads))]
        base = (
            f"{scope.get('scheme', 'http')}://{headers.get('host', '127.0.0.1')}{scope.get('root_path', '')}"
        )
        await self._json(
            send,
            200,
            {
                "success": True,
                "file_id": file_id,
                "content_type": content_type,
                "upload": {
                    "url": f"{base}/s3-upload",
                    "fields": fields,
                    "expires_at": "2099-01-01T00:00:00Z",
                    "max_file_bytes": MAX_FILE_BYTES,
                },
            },
        )

    async def _s3_upload(self, headers: dict[str, str], raw: bytes, send: Send) -> None:
        """A presigned POST: every policy field, exactly as given, before the file; the file last."""
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {headers.get('content-type', '')}\r\n\r\n".encode("latin-1") + raw
        )
        if not message.is_multipart():
            await self._s3_error(send, 400, "InvalidArgument", "POST requires a multipart/form-data body")
            return
        parts = [
            (part.get_param("name", header="content-disposition"), part) for part in message.iter_parts()
        ]
        names = [name for name, _ in parts]
        if not names or names[-1] != "file" or names.count("file") != 1:
            await self._s3_error(send, 400, "InvalidArgument", "The file must be the last field of the form")
            return
        fields = {name: part.get_payload(decode=True).decode() for name, part in parts[:-1]}
        found = next((u for u in self.uploads.values() if u["fields"].get("key") == fields.get("key")), None)
        if found is None or fields != found["fields"]:
            await self._s3_error(
                send, 403, "AccessDenied", "Invalid according to Policy: fields do not match"
            )
            return
        data = parts[-1][1].get_payload(decode=True) or b""
        if not data:
            await self._s3_error(send, 400, "EntityTooSmall", "Your proposed upload is smaller than allowed")
            return
        if len(data) > MAX_FILE_BYTES:
            await self._s3_error(
                send, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed"
            )
            return
        found.update(size=len(data), sha256=hashlib.sha256(data).hexdigest(), uploaded=True)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _s3_error(send: Send, status: int, code: str, message: str) -> None:
        payload = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        headers = [(b"content-type", b"application/xml"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload.encode()})

    async def _upload_complete(self, body: dict[str, Any], send: Send) -> None:
        found = self.uploads.get(str(body.get("file_id", "")))
        if found is None or found["agent_id"] != body["agent_id"].strip():
            await self._json(send, 404, {"success": False, "message": "File not found"})
            return
        if not found["uploaded"]:
            await self._json(send, 400, {"success": False, "message": "The file has not been uploaded"})
            return
        found["completed"] = True
        await self._json(
            send,
            200,
            {
                "success": True,
                "file_id": body["file_id"],
                "file_size_bytes": found["size"],
                "content_type": found["content_type"],
                "file_name": found["file_name"],
                "created_at": "2026-01-01T00:00:00Z",
                "url": f"https://assets.invalid/{body['file_id']}",
            },
        )

    # ------------------------------------------------------------------
    # run-workflow
    # ------------------------------------------------------------------

    @staticmethod
    def validation_errors(raw: bytes, body: Any) -> list[dict[str, Any]]:
        """FastAPI-style errors for a run-workflow body, mirroring the SDK's RunWorkflowRequest."""
        if body is None:
            try:
                json.loads(raw)
            except ValueError as exc:
                return [
                    {
                        "type": "json_invalid",
                        "loc": ["body", 0],
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": str(exc)},
                    }
                ]
        if not isinstance(body, dict):
            return [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": body,
                }
            ]
        errors: list[dict[str, Any]] = []

        def error(kind: str, loc: list[Any], msg: str, value: Any, **ctx: Any) -> None:
            item = {"type": kind, "loc": ["body", *loc], "msg": msg, "input": value}
            if ctx:
                item["ctx"] = ctx
            errors.append(item)

        def string(name: str, *, required: bool = False, max_length: int | None = None) -> None:
            if name not in body or (body[name] is None and not required):
                if required:
                    error("missing", [name], "Field required", body)
                return
            value = body[name]
            if not isinstance(value, str):
                error("string_type", [name], "Input should be a valid string", value)
            elif max_length is not None and len(value) > max_length:
                error(
                    "string_too_long",
                    [name],
                    f"String should have at most {max_length} characters",
                    value,
                    max_length=max_length,
                )

        string("agent_id", required=True)
        string("user_input", max_length=MAX_USER_INPUT)
        string("conversation_id")
        string("contact_id", max_length=MAX_CONTACT_ID)
        for name in ("stream", "enable_hitl", "disable_conversation_history"):
            if name in body and not isinstance(body[name], bool):
                error("bool_type", [name], "Input should be a valid boolean", body[name])
        assets = body.get("assets", [])
        if not isinstance(assets, list):
            error("list_type", ["assets"], "Input should be a valid list", assets)
        else:
            for i, item in enumerate(assets):
                if not isinstance(item, str):
                    error("string_type", ["assets", i], "Input should be a valid string", item)
        resume = body.get("hitl_resume")
        if resume is not None and not isinstance(resume, dict):
            error("model_type", ["hitl_resume"], "Input should be a valid dictionary", resume)
        if errors:
            return errors
        if isinstance(body["agent_id"], str) and not body["agent_id"].strip():
            error("value_error", ["agent_id"], "Value error, agent_id cannot be empty", body["agent_id"])
        user_input = body.get("user_input") or ""
        if resume is not None:
            if not body.get("conversation_id"):
                error(
                    "value_error",
                    [],
                    "Value error, conversation_id is required when hitl_resume is set",
                    body,
                )
            if not body.get("enable_hitl"):
                error(
                    "value_error", [], "Value error, enable_hitl must be true when hitl_resume is set", body
                )
        elif not user_input.strip() and not assets:
            error(
                "value_error",
                [],
                "Value error, user_input is required unless hitl_resume or assets is set",
                body,
            )
        return errors

    async def _run_workflow(
        self, headers: dict[str, str], raw: bytes, body: Any, receive: Receive, send: Send
    ) -> None:
        if headers.get("api-key") not in self.api_keys:
            await self._json(send, 401, {"detail": "Invalid or missing API key"})
            return
        if self.key_access.get(headers["api-key"], "run") != "run":
            await self._json(send, 403, {"detail": NO_RUN_ACCESS})
            return
        errors = self.validation_errors(raw, body)
        if errors:
            await self._json(send, 422, {"detail": errors})
            return
        if body["agent_id"].strip().startswith("missing"):
            await self._json(send, 404, {"detail": "Agent not found"})
            return
        unknown = [a for a in body.get("assets") or [] if not self.uploads.get(a, {}).get("completed")]
        if unknown:
            await self._json(send, 400, {"detail": f"Unknown or incomplete asset(s): {', '.join(unknown)}"})
            return
        message, options = parse_directives(DIRECTIVE, body.get("user_input") or "")
        options.setdefault("fail", self.failure)
        failure = options["fail"]
        if failure and failure.isdigit():
            await self._failure_status(send, int(failure))
            return

        conversation_id = body.get("conversation_id") or new_id("conv")
        resume = body.get("hitl_resume")
        if resume is not None:
            problem = self.resume_problem(conversation_id, resume)
            if problem:
                await self._json(send, 422, {"detail": problem})
                return
            message = resumed_text(self.pending_hitl.pop(conversation_id), resume["decisions"])
        turn = self.conversations.pop(conversation_id, 0) + 1
        self.conversations[conversation_id] = turn
        if len(self.conversations) > MAX_CONVERSATIONS:
            del self.conversations[next(iter(self.conversations))]
        words = options.get("words", self.reply_words)
        # Without history the agent sees only this message: to it, every turn is the first.
        seen_turn = 1 if body.get("disable_conversation_history") else turn
        text = reply_text(message or "(no text, only attachments)", seen_turn, conversation_id, words)
        received = [self.uploads[a] for a in body.get("assets") or []]
        if received:
            names = ", ".join(
                f"“{u['file_name']}” ({u['content_type']}, {u['size']} bytes)" for u in received
            )
            text = f"I received {len(received)} file(s): {names}.\n\n{text}"
        run = Run(conversation_id, options, options.get("delay", self.token_delay), self.legacy)
        if resume is None:
            self.pauses_left.pop(conversation_id, None)
            if pauses := int(options.get("pauses") or options.get("hitl") or 0):
                self.pauses_left[conversation_id] = pauses
        if body.get("enable_hitl") and self.pauses_left.get(conversation_id):
            self.pauses_left[conversation_id] -= 1
            if not self.pauses_left[conversation_id]:
                del self.pauses_left[conversation_id]
            run.hitl_request = self.pending_hitl[conversation_id] = hitl_request(conversation_id, run.run_id)

        disconnected = asyncio.Event()
        watcher = asyncio.create_task(self._watch_disconnect(receive, disconnected))
        self.active_runs += 1
        try:
            if body.get("stream"):
                await self._stream(run, TOKEN.findall(text), send, disconnected)
            else:
                await self._reply_json(run, body, text, send, disconnected)
        finally:
            self.active_runs -= 1
            watcher.cancel()

    def resume_problem(self, conversation_id: str, resume: Any) -> str:
        """Why `hitl_resume` cannot resume the conversation's paused run ("" when it can)."""
        pending = self.pending_hitl.get(conversation_id)
        if (
            pending is None
            or not isinstance(resume, dict)
            or resume.get("request_id") != pending["request_id"]
        ):
            return "No paused run with this request_id in this conversation."
        decisions = resume.get("decisions")
        if not isinstance(decisions, list) or len(decisions) != len(pending["action_requests"]):
            return "Give exactly one decision per action, in order."
        for decision, config in zip(decisions, pending["review_configs"], strict=True):
            if not isinstance(decision, dict) or decision.get("type") not in config["allowed_decisions"]:
                return f"Allowed decisions here: {', '.join(config['allowed_decisions'])}."
            if decision["type"] == "respond" and not str(decision.get("message") or "").strip():
                return "A respond decision needs a message."
        return ""

    async def _failure_status(self, send: Send, status: int) -> None:
        headers = [(b"retry-after", b"1")] if status == 429 else []
        if status == 422:
            detail: Any = [
                {
                    "type": "value_error",
                    "loc": ["body", "user_input"],
                    "msg": "Value error, simulated validation failure",
                    "input": "",
                }
            ]
        else:
            detail = STATUS_DETAILS.get(status) or HTTPStatus(status).phrase
        await self._json(send, status, {"detail": detail}, headers)

    async def _reply_json(
        self, run: Run, body: dict[str, Any], text: str, send: Send, disconnected: asyncio.Event
    ) -> None:
        # [guess] Nothing public says how a failed run looks in JSON mode; the
        # document's `error` flag is the likely carrier.
        failure = run.failure
        if failure == "hang":
            await disconnected.wait()
            return
        if failure == "huge":
            text = "x" * HUGE_EVENT_BYTES
        if run.out_of_credits:
            text = "".join(TOKEN.findall(text)[: len(TOKEN.findall(text)) // 2])
        if await self._wait(disconnected, min(run.delay * len(TOKEN.findall(text)), 5.0)):
            return
        data = {
            "agent_id": body["agent_id"].strip(),
            "user_id": self.user_id,
            "conversation_id": run.conversation_id,
            "contact_id": body.get("contact_id"),
            "response": RUN_ERROR_MESSAGE if failure == "run_error" else text,
            "owner": self.owner,
            "error": failure == "run_error",
            "run_paused_hitl": run.hitl_request is not None,
            "hitl_request": run.hitl_request,
            **run.results(),
        }
        payload = json.dumps(data).encode()
        if failure == "malformed":
            payload = b"<html><body>Internal error</body></html>"
        start = {"type": "http.response.start", "status": 201}
        if failure in ("drop", "reset"):
            await send({**start, "headers": [(b"content-type", b"application/json")]})
            await send(
                {"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True}
            )
            return
        content_type = b"text/html" if failure == "malformed" else b"application/json"
        await send(
            {
                **start,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _stream(self, run: Run, tokens: list[str], send: Send, disconnected: asyncio.Event) -> None:
        async def emit(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

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
        failure = run.failure
        first = run.frame(run.event("RUN_STARTED", thread_id=run.conversation_id, run_id=run.run_id))
        await emit(UTF8_BOM + first if failure == "bom" else first)
        if run.workspace:
            await emit(run.frame(run.custom("deep_agents_workspace", WORKSPACE_ACTIVITY)))
        message_id = new_id("msg")
        await emit(run.frame(run.event("TEXT_MESSAGE_START", message_id=message_id, role="assistant")))
        middle = len(tokens) // 2
        hang_after = min(3, len(tokens))
        for index, token in enumerate(tokens):
            if index == middle:
                if run.out_of_credits and not run.legacy:
                    await emit(run.frame(run.event("TEXT_MESSAGE_END", message_id=message_id)))
                    await emit(run.frame(run.event("RUN_HALTED_OUT_OF_CREDITS")))
                    await self._end_stream(run, send, disconnected)
                    return
                if run.out_of_credits:
                    break
                if run.hitl_request is not None:
                    await emit(run.frame(run.event("TEXT_MESSAGE_END", message_id=message_id)))
                    if run.legacy:
                        paused = run.event(
                            "RUN_PAUSED_HITL",
                            thread_id=run.conversation_id,
                            run_id=run.run_id,
                            hitl_request=run.hitl_request,
                        )
                    else:
                        # As the SDK's own tests send it: the details came in the custom event.
                        await emit(run.frame(run.custom("deep_agents_hitl", run.hitl_request)))
                        paused = run.event("RUN_PAUSED_HITL")
                    await emit(run.frame(paused))
                    await self._end_stream(run, send, disconnected)
                    return
                if failure in ("drop", "reset", "run_error"):
                    if failure == "run_error":
                        await emit(
                            run.frame(
                                run.event("RUN_ERROR", message=RUN_ERROR_MESSAGE, code="simulated_failure")
                            )
                        )
                    if failure != "reset":
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                if failure == "malformed":
                    await emit(b'data: {"type": "TEXT_MESSAGE_CONTENT", "delta": oops\n\n')
                elif failure == "unknown":
                    await emit(run.frame(UNKNOWN_EVENT))
                elif failure == "huge":
                    await emit(
                        run.frame(
                            run.event(
                                "TEXT_MESSAGE_CONTENT", message_id=message_id, delta="x" * HUGE_EVENT_BYTES
                            )
                        )
                    )
                if run.tool:
                    message_id = await self._tool_call(run, message_id, emit, disconnected)
                    if disconnected.is_set():
                        return
            if index == hang_after and failure == "hang":
                await disconnected.wait()
                return
            delta = f"{time.time_ns()} {token}" if run.stamp else token
            await emit(run.frame(run.event("TEXT_MESSAGE_CONTENT", message_id=message_id, delta=delta)))
            if failure == "heartbeat":
                await emit(b": ping\n\nid: " + str(index).encode() + b"\n\n\n")
            if index + 1 < len(tokens) and await self._wait(disconnected, run.delay):
                return
        if failure == "hang":
            await disconnected.wait()
            return
        await emit(run.frame(run.event("TEXT_MESSAGE_END", message_id=message_id)))
        for name, value in run.results().items():
            if value:
                await emit(run.frame(run.custom(name, value)))
        await emit(run.frame(run.event("RUN_FINISHED", thread_id=run.conversation_id, run_id=run.run_id)))
        await self._end_stream(run, send, disconnected)

    async def _end_stream(self, run: Run, send: Send, disconnected: asyncio.Event) -> None:
        """Close the body after a terminal event, once `hold_open_after_end` seconds have passed."""
        hold = HOLD_SECONDS if run.hold else self.hold_open_after_end
        if hold and await self._wait(disconnected, hold):
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _tool_call(
        run: Run, message_id: str, emit: Callable[[bytes], Awaitable[None]], disconnected: asyncio.Event
    ) -> str:
        """End the current text message, call a tool, and start the next message; its id is returned."""
        tool_call_id = new_id("call")
        await emit(run.frame(run.event("TEXT_MESSAGE_END", message_id=message_id)))
        await emit(
            run.frame(
                run.event(
                    "TOOL_CALL_START",
                    tool_call_id=tool_call_id,
                    tool_call_name="web_search",
                    parent_message_id=message_id,
                )
            )
        )
        if not run.legacy:
            for delta in TOOL_ARGUMENTS:
                await emit(run.frame(run.event("TOOL_CALL_ARGS", tool_call_id=tool_call_id, delta=delta)))
        if await SketricGenFake._wait(disconnected, run.delay * 5):
            return message_id
        await emit(run.frame(run.event("TOOL_CALL_END", tool_call_id=tool_call_id)))
        if run.camel:
            result = run.event(
                "TOOL_CALL_RESULT",
                message_id=new_id("msg"),
                tool_call_id=tool_call_id,
                content=TOOL_RESULT,
                role="tool",
            )
            await emit(run.frame(result))
        message_id = new_id("msg")
        await emit(run.frame(run.event("TEXT_MESSAGE_START", message_id=message_id, role="assistant")))
        return message_id

    # ------------------------------------------------------------------
    # Admin API
    # ------------------------------------------------------------------

    async def _admin(self, method: str, path: str, scope: Scope, headers: dict[str, str], send: Send) -> None:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or key.strip() not in self.api_keys:
            await self._json(send, 401, {"code": "unauthorized", "error": "Invalid or missing API key"})
            return
        if self.key_access.get(key.strip(), "manage") != "manage":
            await self._json(send, 403, {"code": "insufficient_role", "error": NO_MANAGE_ACCESS})
            return
        listings = {
            "/teamspaces": lambda: {"teamspaces": [self.teamspace]},
            "/projects": lambda: self._page(scope, "projects", self.projects),
            "/agents": lambda: self._page(scope, "agents", self.agents),
        }
        handler = listings.get(path.rstrip("/"))
        if handler is None:
            await self._json(
                send, 404, {"code": "not_found", "error": f"No route for {method} /admin/v1{path}"}
            )
            return
        if method != "GET":
            await self._json(
                send, 405, {"code": "method_not_allowed", "error": f"{method} is not allowed here"}
            )
            return
        page = handler()
        if page is None:
            await self._json(send, 400, {"code": "invalid_next_token", "error": "next_token is not valid"})
            return
        await self._json(send, 200, page)

    def _page(self, scope: Scope, key: str, items: list[dict[str, Any]]) -> dict[str, Any] | None:
        """One page of `items`; the token is opaque to clients [guess: its format is ours]."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("next_token") or [""])[0]
        start = 0
        if token:
            if not token.startswith("page_") or not token[5:].isdigit():
                return None
            start = int(token[5:])
        size = max(1, self.agents_page_size)
        end = start + size
        return {key: items[start:end], "next_token": f"page_{end}" if end < len(items) else None}
