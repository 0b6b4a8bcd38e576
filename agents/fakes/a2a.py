"""A real A2A agent built with the official `a2a-sdk` server, answering from a script instead of a model.

`A2AFake` is the SDK's own JSON-RPC endpoint (`create_jsonrpc_routes`, with
the v0.3 methods `message/stream`, `tasks/cancel` ... on the same endpoint)
in front of `ScriptedExecutor`, an `AgentExecutor` that writes task status
updates and artifacts with the SDK's `TaskUpdater`, as the `AgentExecutor`
docstring of a2a-sdk 1.3.0 lays out (a Task first, then status and artifact
updates; `input-required` returns and the answer calls `execute` again). The
Agent Card is served at `/.well-known/agent-card.json` (and the older
`/.well-known/agent.json`), its interface URL taken from the request, so the
same app works mounted under the demo's `/fake/a2a/` and on its own port.

Settings on the instance: `token_delay`, `streaming` (the card's capability),
`protocol_version` ("1.0", or "0.3" for a card in the older format),
`api_keys` (an empty set: no key needed), `interface_url` (the address the
card sends messages to; None: its own). Directives in a message, which the
reply does not quote:

- `[[ask]]`        the task stops in `input-required` with a question; the answer finishes it
- `[[file]]`       the reply ends with an artifact holding a file (a URL part)
- `[[words=N]]`    a reply of exactly N word-ish tokens
- `[[delay=S]]`    S seconds between streamed chunks
- `[[message]]`    a direct answer: one Message, no task
- `[[fail]]`       the task fails after some text
- `[[fail:NNN]]`   the server in front of the agent answers HTTP NNN instead
"""

import asyncio
import json
import re
import uuid
from typing import Any

from a2a.helpers.proto_helpers import new_url_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Message,
    Part,
    Role,
    Task,
    TaskState,
    TaskStatus,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.fakes.base import TOKEN, demo_reply, message_size, parse_directives

DIRECTIVES = re.compile(
    r"\[\[(?:(?P<flag>ask|file|fail|message)(?::(?P<status>\d{3}))?|words=(?P<words>\d+)|delay=(?P<delay>\d+(?:\.\d+)?))\]\]",
    re.IGNORECASE,
)
QUESTION = "Which city should the forecast be for?"
REPORT_NAME = "forecast.csv"
RPC_PATH = "/"


def demo_card(url: str, *, streaming: bool = True, protocol_version: str = "1.0") -> AgentCard:
    return AgentCard(
        name="Forecast demo",
        description="A scripted A2A agent: it answers without a model.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=protocol_version)
        ],
        capabilities=AgentCapabilities(streaming=streaming),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain", "text/csv"],
        skills=[
            AgentSkill(
                id="forecast",
                name="Weather forecast",
                description="Says what the weather will be, asking for the city when it is not given.",
                tags=["weather"],
                examples=["What will the weather be tomorrow? [[ask]]"],
            ),
            AgentSkill(
                id="report",
                name="Forecast report",
                description="Writes the forecast as a CSV file.",
                tags=["files"],
                examples=["A report please [[file]]"],
            ),
        ],
    )


def files_received(context: RequestContext) -> list[str]:
    """A line per file the message carried inline: its name, type and size."""
    parts = context.message.parts if context.message else []
    return [
        f"you sent {part.filename or 'a file'} ({part.media_type}, {len(part.raw)} bytes)"
        for part in parts
        if part.WhichOneof("content") == "raw"
    ]


class ScriptedExecutor(AgentExecutor):
    """Answers each message from its directives, as an agent built on the SDK would."""

    def __init__(self, fake: "A2AFake"):
        self.fake = fake

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text, directives = parse_directives(DIRECTIVES, context.get_user_input())
        task = context.current_task
        if directives.get("message") and task is None:
            answer = f"A direct answer to “{' '.join(text.split())}”, without a task."
            await event_queue.enqueue_event(
                Message(
                    message_id=uuid.uuid4().hex,
                    context_id=context.context_id,
                    role=Role.ROLE_AGENT,
                    parts=[Part(text=answer)],
                )
            )
            return
        if task is None:
            task = Task(
                id=context.task_id,
                context_id=context.context_id,
                status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                history=[context.message],
            )
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        answering = task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        self.fake.turns[task.context_id] = self.fake.turns.get(task.context_id, 0) + (0 if answering else 1)
        if directives.get("ask") and not answering:
            await updater.requires_input(updater.new_agent_message([Part(text=QUESTION)]))
            return
        await updater.start_work(updater.new_agent_message([Part(text="Looking at the sky…")]))
        if answering:
            reply = f"The forecast for {' '.join(text.split()) or 'your city'}: sunny, 21 °C."
        else:
            reply = demo_reply(
                text,
                self.fake.turns[task.context_id],
                directives.get("words"),
                intro="Hello from the simulated A2A agent.",
                noun="context",
                bullets=[message_size(text), "streamed as one artifact in chunks", *files_received(context)],
            )
        delay = directives.get("delay", self.fake.token_delay)
        artifact_id = uuid.uuid4().hex
        tokens = TOKEN.findall(reply)
        for index, token in enumerate(tokens):
            await updater.add_artifact(
                [Part(text=token)],
                artifact_id=artifact_id,
                name="reply",
                append=index > 0,
                last_chunk=index == len(tokens) - 1,
            )
            if directives.get("fail") and index == min(5, len(tokens) - 1):
                await updater.failed(updater.new_agent_message([Part(text="The forecast service is down.")]))
                return
            if delay:
                await asyncio.sleep(delay)
        if directives.get("file"):
            url = f"{self.fake.public_url}/files/{REPORT_NAME}"
            await updater.add_artifact(
                [new_url_part(url, media_type="text/csv", filename=REPORT_NAME)],
                name="report",
                last_chunk=True,
            )
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.fake.cancelled.append(context.task_id or "")
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.cancel()


class A2AFake:
    """The SDK's A2A server app with the scripted executor; a fresh task store on `reset()`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reset()

    def reset(self) -> None:
        self.token_delay: float = 0.02
        self.streaming = True
        self.protocol_version = "1.0"
        self.api_keys: set[str] = set()
        self.turns: dict[str, int] = {}
        self.cancelled: list[str] = []
        self.public_url = ""
        # The JSON-RPC URL the card names; None: this server's own address.
        self.interface_url: str | None = None
        self.requests.clear()
        # The SDK's handler wants a card; the one served (`agent_card`) names the address it was asked at.
        card = demo_card("http://placeholder/")
        handler = DefaultRequestHandler(
            agent_executor=ScriptedExecutor(self), task_store=InMemoryTaskStore(), agent_card=card
        )
        self.handler = handler
        routes = [
            Route("/.well-known/agent-card.json", self.agent_card, methods=["GET"]),
            Route("/.well-known/agent.json", self.agent_card, methods=["GET"]),
            Route("/files/{name}", self.file, methods=["GET"]),
            *create_jsonrpc_routes(handler, RPC_PATH, enable_v0_3_compat=True),
        ]
        self.app = Starlette(routes=routes)

    def base_url(self, request: Request) -> str:
        root = request.scope.get("root_path", "")
        return f"{request.url.scheme}://{request.url.netloc}{root}"

    async def agent_card(self, request: Request) -> Response:
        self.public_url = self.base_url(request)
        card = demo_card(
            self.interface_url or self.public_url + RPC_PATH,
            streaming=self.streaming,
            protocol_version=self.protocol_version,
        )
        # The handler refuses streaming when its card says the agent does not stream.
        self.handler._agent_card = card
        data = agent_card_to_dict(card)
        if self.protocol_version.startswith("0."):
            # The card as a v0.3 agent writes it: `url` and `protocolVersion`, no `supportedInterfaces`.
            data.pop("supportedInterfaces", None)
        return JSONResponse(data)

    async def file(self, request: Request) -> Response:
        return Response("day,forecast\ntomorrow,sunny\n", media_type="text/csv")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        raw = b"".join(chunks)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.requests.append(
            {"method": scope["method"], "path": scope["path"], "headers": headers, "body": body}
        )
        if self.api_keys and scope["method"] == "POST":
            key = headers.get("authorization", "").removeprefix("Bearer ")
            if key not in self.api_keys:
                await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
                return
        status = self.http_failure(body)
        if status:
            await Response("The server had a problem.", status_code=status)(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def http_failure(body: Any) -> int | None:
        """The HTTP status a `[[fail:NNN]]` in the message asks for."""
        params = body.get("params") if isinstance(body, dict) else None
        message = params.get("message") if isinstance(params, dict) else None
        parts = message.get("parts") if isinstance(message, dict) else None
        text = (
            " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
            if isinstance(parts, list)
            else ""
        )
        _, directives = parse_directives(DIRECTIVES, text)
        status = int(directives.get("status") or 0)
        return status if 400 <= status <= 599 else None
