"""Any agent that speaks Agent2Agent (A2A), found through its Agent Card.

Sources: the A2A specification 1.0 (a2a-protocol.org/v1.0.0/specification,
with its appendix on 0.3) and the official `a2a-sdk` 1.3.0, whose client
transports (`a2a/client/transports/jsonrpc.py`,
`a2a/compat/v0_3/jsonrpc_transport.py`) this adapter follows.

The credential's base URL is the agent's address: its card is read from
`{base}/.well-known/agent-card.json` (or `agent.json`, the older name), or the
base URL is the card itself when it ends in `.json`. The card names the
agent's JSON-RPC endpoint, the protocol version it speaks and whether it
streams. Types are the SDK's (protobuf messages, the v0.3 pydantic models and
the SDK's conversions between them). Requests go through the site's own HTTP
client (agents.providers.http: the address guard, the caps on bodies and
events, HTTP statuses kept for retries). The SDK's client could be handed that
client, but its factory sets an `A2A-Version` header on the client it is given
(every platform's requests would carry it), its SSE reader has no size cap and
its errors keep neither the status nor `Retry-After` for retries, so it is not
used.

- A2A 1.0 agents get `SendStreamingMessage` (`SendMessage` when the card says
  the agent does not stream) with an `A2A-Version: 1.0` header; 0.3 agents get
  `message/stream` (`message/send`).
- The `contextId` the agent gives is the conversation's upstream id and goes
  with every later message.
- Text in artifacts is the reply; files in artifacts are listed as links at
  its end; a `working` status message is shown as activity; an answer that is
  one Message (no task) is the whole reply.
- `input-required` pauses the reply with a question (an approval whose only
  decision is "respond"); the answer goes back with the task's `taskId`.
- Stopping a reply sends `CancelTask` (`tasks/cancel`) for its task.
"""

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from a2a.client.card_resolver import parse_agent_card
from a2a.compat.v0_3 import conversions
from a2a.compat.v0_3 import types as v03
from a2a.compat.v0_3.versions import is_legacy_version
from a2a.types.a2a_pb2 import (
    AgentCard,
    Artifact,
    CancelTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
    TaskStatus,
)
from a2a.utils.proto_utils import parse_lenient
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from google.protobuf.json_format import MessageToDict, ParseError

from agents.platforms import platform_label
from agents.providers.base import (
    IMAGE_AND_DOCUMENT_TYPES,
    Option,
    Provider,
    Turn,
    UpstreamAgent,
    UpstreamError,
)
from agents.providers.events import (
    Activity,
    ApprovalRequested,
    ReplyEvent,
    RunFinished,
    RunStarted,
    TextDelta,
)
from agents.providers.http import (
    iter_sse,
    open_stream,
    parse_json_object,
    read_capped,
    request_json,
)
from agents.providers.sketricgen import link

PLATFORM = "a2a"
LABEL = platform_label(PLATFORM)
CARD_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")
VERSION_HEADER = "A2A-Version"
# An Agent Card changes rarely; reading it before every message would double the requests.
CARD_SECONDS = 300
ACTIVITY_CHARS = 200
MAX_FILES_LISTED = 20
# The upstream id of an agent that is the A2A agent as a whole rather than one of its skills.
WHOLE_AGENT = "agent"
QUESTION_ACTION = gettext_noop("Answer the agent's question")
CANCEL_SECONDS = 5
HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
TERMINAL_ERRORS = {
    TaskState.TASK_STATE_FAILED: gettext_lazy("The agent could not finish the task"),
    TaskState.TASK_STATE_REJECTED: gettext_lazy("The agent declined the task"),
    TaskState.TASK_STATE_CANCELED: gettext_lazy("The agent's task was cancelled"),
}

logger = logging.getLogger(__name__)
_cards: dict[str, tuple[float, AgentCard]] = {}


def short(text: str, limit: int = ACTIVITY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_urls(base_url: str) -> list[str]:
    """Where the Agent Card may be: the URL itself when it names a JSON file, else the well-known paths."""
    if urlsplit(base_url).path.endswith(".json"):
        return [base_url]
    return [base_url.rstrip("/") + path for path in CARD_PATHS]


@dataclass(frozen=True)
class Endpoint:
    """The agent's JSON-RPC interface as its card names it."""

    url: str
    legacy: bool  # A2A 0.3 (`message/stream`, `kind` fields) rather than 1.0

    @property
    def protocol(self) -> str:
        return "0.3" if self.legacy else "1.0"


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def jsonrpc_endpoint(card: AgentCard, base_url: str) -> Endpoint:
    """The card's JSON-RPC interface, preferring A2A 1.0 over 0.3, on the base URL's own origin.

    The key goes to the interface: a card naming another host would send the key
    there, so such a card is refused (the key is bound to the base URL).
    """
    interfaces = [i for i in card.supported_interfaces if i.protocol_binding.upper() == "JSONRPC" and i.url]
    if not interfaces:
        bindings = ", ".join(sorted({i.protocol_binding for i in card.supported_interfaces})) or _("none")
        raise UpstreamError(
            _(
                "The agent “%(agent)s” offers no JSON-RPC interface (it offers: %(bindings)s); "
                "this site speaks A2A over JSON-RPC."
            )
            % {"agent": card.name, "bindings": bindings}
        )
    current = [i for i in interfaces if not is_legacy_version(i.protocol_version)]
    chosen = (current or interfaces)[0]
    if origin(chosen.url) != origin(base_url):
        raise UpstreamError(
            _(
                "The Agent Card of “%(agent)s” sends messages to %(address)s, another address than the "
                "credential's base URL; the key is only sent to the base URL's own address. An admin can "
                "set the base URL to the agent's own address."
            )
            % {"agent": card.name, "address": short(chosen.url, 120)}
        )
    return Endpoint(url=chosen.url, legacy=is_legacy_version(chosen.protocol_version))


def parts_text(parts: Any) -> str:
    """The text of a message's or artifact's parts; structured data as a JSON code block."""
    texts = []
    for part in parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            texts.append(part.text)
        elif kind == "data":
            texts.append("\n```json\n" + json.dumps(MessageToDict(part.data), indent=2)[:20_000] + "\n```\n")
    return "".join(texts)


def file_line(part: Part) -> str | None:
    """A Markdown list item for a file part: a link when the agent gave a URL."""
    kind = part.WhichOneof("content")
    if kind == "url":
        name = part.filename or urlsplit(part.url).path.rsplit("/", 1)[-1] or "file"
        return f"- {link(name, part.url)}" + (f" ({part.media_type})" if part.media_type else "")
    if kind == "raw":
        name = part.filename or "file"
        size = number_format(len(part.raw), force_grouping=True)
        inline = _("%(size)s bytes sent inline, not kept by this site") % {"size": size}
        return f"- {link(name, None)} ({inline})"
    return None


def stream_response(result: Any, *, legacy: bool) -> StreamResponse:
    """One JSON-RPC `result` (a stream event, or a whole send result) as the SDK's StreamResponse."""
    if not isinstance(result, dict):
        raise UpstreamError(_("The agent sent a result that is not a JSON object."))
    try:
        if not legacy:
            return parse_lenient(result, StreamResponse())
        kind = result.get("kind") or (
            "status-update"
            if "taskId" in result and "status" in result
            else "message"
            if "messageId" in result
            else "task"
        )
        models = {
            "task": v03.Task,
            "message": v03.Message,
            "status-update": v03.TaskStatusUpdateEvent,
            "artifact-update": v03.TaskArtifactUpdateEvent,
        }
        if kind not in models:
            return StreamResponse()
        event = models[kind].model_validate(result)
        return conversions.to_core_stream_response(v03.SendStreamingMessageSuccessResponse(result=event))
    except (ParseError, ValueError) as exc:
        raise UpstreamError(
            _("The agent sent an event this site could not read: %(detail)s") % {"detail": short(str(exc))}
        ) from exc


def rpc_error(error: Any) -> UpstreamError:
    """A JSON-RPC error object in the user's words."""
    error = error if isinstance(error, dict) else {}
    message = short(str(error.get("message") or _("no details were given")), 300)
    code = error.get("code")
    said = _("The agent refused the request: %(detail)s") % {"detail": message}
    return UpstreamError(said + (" " + _("(code %(code)s)") % {"code": code} if code else ""))


@dataclass
class ReplyState:
    """What one turn has received so far."""

    task_id: str = ""
    started: bool = False
    text: bool = False
    artifact_id: str = ""
    files: list[str] = field(default_factory=list)
    ended: bool = False


class A2AProvider(Provider, platform=PLATFORM):
    default_base_url = ""
    agent_options: dict[str, Option] = {}
    # Files go inline as `raw` parts (base64 in JSON), so their size counts twice over in the request.
    accepted_file_types = IMAGE_AND_DOCUMENT_TYPES
    max_files = 5
    max_file_bytes = 5 * 1024 * 1024
    files_without_text = True
    needs_key = False
    credential_options = {
        "key_header": Option(
            gettext_lazy(
                "The header that carries the key, for agents whose card asks for an API key header "
                "(e.g. X-API-Key). Empty: Authorization: Bearer <key>."
            ),
            label=gettext_lazy("Key header"),
        ),
    }

    @property
    def auth_headers(self) -> dict[str, str]:
        if not self.connection.api_key:
            return {}
        header = str(self.connection.options.get("key_header") or "").strip()
        if header and not HEADER_NAME.fullmatch(header):
            raise UpstreamError(
                _("“%(header)s” is not a header name: an admin needs to fix key_header.")
                % {"header": short(header, 60)}
            )
        if header:
            return {header: self.connection.api_key}
        return {"Authorization": f"Bearer {self.connection.api_key}"}

    def headers(self, endpoint: Endpoint, *, stream: bool) -> dict[str, str]:
        headers = {**self.auth_headers, "Accept": "text/event-stream" if stream else "application/json"}
        if not endpoint.legacy:
            headers[VERSION_HEADER] = endpoint.protocol
        return headers

    async def agent_card(self, *, fresh: bool = False) -> AgentCard:
        """The agent's card, read again after CARD_SECONDS (or when `fresh`)."""
        key = self.connection.base_url
        cached = _cards.get(key)
        if cached and not fresh and time.monotonic() - cached[0] < CARD_SECONDS:
            return cached[1]
        urls = card_urls(self.connection.base_url)
        for url in urls:
            try:
                data = await request_json(
                    "GET", url, platform=LABEL, client=self.client, headers=self.auth_headers
                )
            except UpstreamError as exc:
                if exc.status == 404 and url != urls[-1]:
                    continue
                raise
            try:
                card = parse_agent_card(data)
            except ParseError as exc:
                raise UpstreamError(
                    _("The Agent Card at %(address)s could not be read: %(detail)s")
                    % {"address": url, "detail": short(str(exc))}
                ) from exc
            _cards[key] = (time.monotonic(), card)
            return card
        raise UpstreamError(
            _("No Agent Card was found at %(address)s.") % {"address": self.connection.base_url}
        )

    async def outgoing_message(self, turn: Turn, state: ReplyState) -> Message:
        """The user's message with its files as inline parts, or their answer to the task's question."""
        text = turn.text
        if turn.approval is not None:
            decisions = turn.approval.get("decisions") or [{}]
            text = str(decisions[0].get("message") or "")
            state.task_id = str(turn.approval.get("request_id") or "")
        parts = [Part(text=text)] if text else []
        for file in turn.files:
            parts.append(Part(raw=await file.load(), media_type=file.content_type, filename=file.name))
        message = Message(
            message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=parts, task_id=state.task_id
        )
        if turn.upstream_conversation_id:
            message.context_id = turn.upstream_conversation_id
        skill = self.agent.upstream_id if self.agent else WHOLE_AGENT
        if skill and skill != WHOLE_AGENT:
            # [guess] A2A has no field that picks a skill; agents that route by skill read it from
            # the message's metadata, others ignore it.
            message.metadata.update({"skillId": skill})
        return message

    def rpc_body(self, endpoint: Endpoint, request: SendMessageRequest, *, stream: bool) -> dict[str, Any]:
        if endpoint.legacy:
            compat = conversions.to_compat_send_message_request(request, request_id=0)
            method = "message/stream" if stream else "message/send"
            params = compat.params.model_dump(by_alias=True, exclude_none=True, mode="json")
        else:
            method = "SendStreamingMessage" if stream else "SendMessage"
            params = MessageToDict(request)
        return {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method, "params": params}

    async def _stream(self, turn: Turn) -> AsyncIterator[ReplyEvent]:
        card = await self.agent_card()
        endpoint = jsonrpc_endpoint(card, self.connection.base_url)
        state = ReplyState()
        # No `acceptedOutputModes`: any output is welcome, files included (they are shown as links).
        request = SendMessageRequest(message=await self.outgoing_message(turn, state))
        stream = card.capabilities.streaming
        body = self.rpc_body(endpoint, request, stream=stream)
        try:
            async with open_stream(
                "POST",
                endpoint.url,
                platform=LABEL,
                client=self.client,
                json=body,
                headers=self.headers(endpoint, stream=stream),
            ) as response:
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    # A whole result (`SendMessage`), or an error answered before any stream.
                    await read_capped(response, platform=LABEL)
                    for event in self.translate(self.rpc_result(response.text, endpoint), state):
                        yield event
                else:
                    async for sse in iter_sse(response):
                        for event in self.translate(self.rpc_result(sse.data, endpoint), state):
                            yield event
                        if state.ended:
                            return
        except (asyncio.CancelledError, GeneratorExit):
            if state.task_id and not state.ended:
                await self.cancel_task(endpoint, state.task_id)
            raise
        if not state.ended:
            raise UpstreamError(
                _("The agent ended the stream before the task was finished; the reply is incomplete.")
            )

    def rpc_result(self, data: str, endpoint: Endpoint) -> StreamResponse:
        envelope = parse_json_object(data)
        if envelope is None:
            raise UpstreamError(_("The agent sent something other than a JSON-RPC response."))
        if envelope.get("error"):
            raise rpc_error(envelope["error"])
        if "result" not in envelope:
            raise UpstreamError(_("The agent sent a JSON-RPC response without a result."))
        # A `SendMessage` result (a task or a message) reads as a stream event of the same name.
        return stream_response(envelope["result"], legacy=endpoint.legacy)

    def translate(self, event: StreamResponse, state: ReplyState) -> Iterator[ReplyEvent]:
        kind = event.WhichOneof("payload")
        if kind == "message":
            yield from self.started(state, event.message.context_id, event.message.task_id)
            yield from self.text(parts_text(event.message.parts), state)
            yield from self.finished(state)
        elif kind == "task":
            task: Task = event.task
            yield from self.started(state, task.context_id, task.id)
            for artifact in task.artifacts:
                yield from self.artifact(artifact, state, append=False)
            yield from self.status(task.status, state)
        elif kind == "status_update":
            update = event.status_update
            yield from self.started(state, update.context_id, update.task_id)
            yield from self.status(update.status, state)
        elif kind == "artifact_update":
            update = event.artifact_update
            yield from self.started(state, update.context_id, update.task_id)
            yield from self.artifact(update.artifact, state, append=update.append)

    @staticmethod
    def started(state: ReplyState, context_id: str, task_id: str) -> Iterator[ReplyEvent]:
        state.task_id = task_id or state.task_id
        if context_id and not state.started:
            state.started = True
            yield RunStarted(conversation_id=context_id, run_id=state.task_id)

    @staticmethod
    def text(text: str, state: ReplyState) -> Iterator[ReplyEvent]:
        if not text:
            return
        state.text = True
        yield TextDelta(text=text)

    def artifact(self, artifact: Artifact, state: ReplyState, *, append: bool) -> Iterator[ReplyEvent]:
        text = parts_text(artifact.parts)
        new_artifact = artifact.artifact_id != state.artifact_id and not append
        if text and new_artifact and state.text:
            text = "\n\n" + text
        if text:
            state.artifact_id = artifact.artifact_id
        yield from self.text(text, state)
        for part in artifact.parts:
            line = file_line(part)
            if line and len(state.files) < MAX_FILES_LISTED:
                state.files.append(line)

    def status(self, status: TaskStatus, state: ReplyState) -> Iterator[ReplyEvent]:
        said = parts_text(status.message.parts) if status.HasField("message") else ""
        if status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING):
            if said.strip():
                yield Activity(text=short(said))
        elif status.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            yield from self.text(said or _("The agent needs more information to go on."), state)
            state.ended = True
            yield ApprovalRequested(
                request_id=state.task_id,
                actions=[{"name": _(QUESTION_ACTION), "args": {}, "allowed": ["respond"]}],
            )
        elif status.state == TaskState.TASK_STATE_AUTH_REQUIRED:
            raise UpstreamError(
                _("The agent needs the user to authorise it somewhere else first, which this site cannot do.")
                + (" " + _("It said: %(detail)s") % {"detail": short(said, 300)} if said.strip() else "")
            )
        elif status.state == TaskState.TASK_STATE_COMPLETED:
            if not state.text:
                yield from self.text(said, state)
            yield from self.finished(state)
        elif status.state in TERMINAL_ERRORS:
            state.ended = True
            raise UpstreamError(
                str(TERMINAL_ERRORS[status.state]) + (f": {short(said, 500)}" if said.strip() else ".")
            )

    def finished(self, state: ReplyState) -> Iterator[ReplyEvent]:
        if state.files:
            yield from self.text(
                ("\n\n" if state.text else "") + "**" + _("Files") + "**\n\n" + "\n".join(state.files), state
            )
        state.ended = True
        yield RunFinished()

    async def cancel_task(self, endpoint: Endpoint, task_id: str) -> None:
        """Ask the agent to cancel the task of a reply that was stopped; failures are only logged."""
        if endpoint.legacy:
            body = {
                "jsonrpc": "2.0",
                "id": str(uuid.uuid4()),
                "method": "tasks/cancel",
                "params": {"id": task_id},
            }
        else:
            params = MessageToDict(CancelTaskRequest(id=task_id))
            body = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": "CancelTask", "params": params}
        call = request_json(
            "POST",
            endpoint.url,
            platform=LABEL,
            client=self.client,
            json=body,
            headers=self.headers(endpoint, stream=False),
        )
        try:
            # Shielded: the reply's own task is being cancelled, which would end this request too.
            await asyncio.wait_for(asyncio.shield(call), CANCEL_SECONDS)
        except (UpstreamError, TimeoutError, asyncio.CancelledError) as exc:
            logger.info("Cancelling A2A task %s failed: %s", task_id, exc)

    async def check_connection(self) -> str:
        card = await self.agent_card(fresh=True)
        endpoint = jsonrpc_endpoint(card, self.connection.base_url)
        skills = ", ".join(skill.name for skill in card.skills[:10]) or _("none listed")
        streams = (
            _("it streams its replies")
            if card.capabilities.streaming
            else _("it does not stream (replies come whole)")
        )
        return _(
            "Read the Agent Card of “%(agent)s” (version %(version)s, A2A %(protocol)s over JSON-RPC at "
            "%(address)s): %(streams)s; skills: %(skills)s."
        ) % {
            "agent": card.name,
            "version": card.version or _("not given"),
            "protocol": endpoint.protocol,
            "address": endpoint.url,
            "streams": streams,
            "skills": skills,
        }

    can_list_agents = True

    async def list_agents(self) -> list[UpstreamAgent]:
        """The agent itself, then each skill its card lists (chatting with a skill names it in metadata)."""
        card = await self.agent_card(fresh=True)
        agents = [UpstreamAgent(id=WHOLE_AGENT, name=card.name or LABEL, description=card.description)]
        agents += [
            UpstreamAgent(id=skill.id, name=f"{card.name}: {skill.name}", description=skill.description)
            for skill in card.skills
            if skill.id and skill.id != WHOLE_AGENT
        ]
        return agents
