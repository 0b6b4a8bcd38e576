"""Any agent served over AG-UI (docs.ag-ui.com): LangGraph, CrewAI, Pydantic AI, Mastra, Agno and others.

`POST {url}` with a `RunAgentInput` (our thread id, a new run id, the
conversation's messages: the client owns the history) answers with a stream
of AG-UI events, `data: <json>` (ag-ui-protocol's `EventEncoder`). The types
come from `ag-ui-protocol`. What the user sees:

- text messages as the reply (two messages of one run are two paragraphs);
- tool calls with their arguments and results as tool chips;
- reasoning as a folded chip named "Reasoning" (its id starts with
  REASONING_PREFIX, so it is never sent back as a tool call);
- steps, subagents and `CUSTOM` events as activity;
- `RUN_ERROR` as the reply's error;
- `RUN_FINISHED` with an interrupt outcome as a request for decisions; the
  next run carries them as `resume` entries (docs.ag-ui.com/concepts/interrupts):
  a tool approval is answered `{"approved": true|false}` (the payload shape the
  AG-UI docs' approval examples and Pydantic AI advertise in `responseSchema`),
  another interrupt with the user's words, or cancelled.

The agent's upstream id is its path under the credential's base URL ("/" or
"" for the base URL itself). A key, if set, is sent as a Bearer token [guess:
AG-UI defines no authentication; `HttpAgent` sends whatever headers it is given].
"""

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from ag_ui.core import (
    AssistantMessage,
    DataSource,
    EventType,
    FunctionCall,
    ImagePart,
    Message,
    ResumeEntry,
    RunAgentInput,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from ag_ui.core.events import Event
from django.utils.translation import gettext as _
from pydantic import TypeAdapter, ValidationError

from agents.platforms import platform_label
from agents.providers.base import (
    HISTORY_OPTIONS,
    IMAGE_TYPES,
    HistoryMessage,
    Provider,
    Turn,
    TurnFile,
    UpstreamError,
    history_option_problems,
)
from agents.providers.events import (
    Activity,
    ApprovalRequested,
    ReplyEvent,
    RunFinished,
    RunStarted,
    TextDelta,
    ToolFinished,
    ToolStarted,
    Usage,
)
from agents.providers.http import as_text, iter_sse, open_stream, parse_json_object, upstream_timeout

PLATFORM = "ag_ui"
LABEL = platform_label(PLATFORM)
REASONING_PREFIX = "reasoning:"
MAX_ACTIVITY_CHARS = 160
MAX_TOOL_ARGUMENTS_CHARS = 20_000
EVENT = TypeAdapter(Event)
KNOWN_TYPES = frozenset(kind.value for kind in EventType)


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ACTIVITY_CHARS else text[: MAX_ACTIVITY_CHARS - 1] + "…"


def content_text(content: Any) -> str:
    """A tool result's content: the string, or its text parts joined (other parts named)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.text if isinstance(p, TextPart) else f"[{p.type}]" for p in content)
    return ""


async def image_part(file: TurnFile) -> ImagePart:
    data = base64.b64encode(await file.load()).decode("ascii")
    return ImagePart(source=DataSource(value=data, mime_type=file.content_type))


async def user_message(message_id: str, text: str, images: tuple[TurnFile, ...]) -> UserMessage:
    if not images:
        return UserMessage(id=message_id, content=text)
    parts: list[Any] = [TextPart(text=text)] if text else []
    for image in images:
        parts.append(await image_part(image))
    return UserMessage(id=message_id, content=parts)


def assistant_messages(message: HistoryMessage) -> list[Message]:
    """A saved reply as AG-UI messages: its tool calls, their results, then its text.

    A reply whose last call has no result (a run paused for approval) ends with
    that call, which the next run resumes.
    """
    calls = [c for c in message.tool_calls if not c["id"].startswith(REASONING_PREFIX)]
    if not calls:
        return [AssistantMessage(id=message.id, content=message.text)] if message.text else []
    tool_calls = [
        ToolCall(
            id=c["id"],
            function=FunctionCall(name=c.get("name") or "tool", arguments=c.get("arguments") or "{}"),
        )
        for c in calls
    ]
    results: list[Message] = [
        ToolMessage(id=f"{c['id']}-result", tool_call_id=c["id"], content=c["result"])
        for c in calls
        if c.get("result")
    ]
    if len(results) < len(calls):
        return [
            AssistantMessage(id=message.id, content=message.text or None, tool_calls=tool_calls),
            *results,
        ]
    answer = [AssistantMessage(id=f"{message.id}-text", content=message.text)] if message.text else []
    return [AssistantMessage(id=message.id, tool_calls=tool_calls), *results, *answer]


def resume_entries(approval: dict[str, Any]) -> list[ResumeEntry]:
    """The user's decisions as answers to the interrupts `request_id` lists, in order."""
    try:
        interrupts = json.loads(approval["request_id"])["interrupts"]
    except (KeyError, TypeError, ValueError):
        raise UpstreamError(_("This decision does not belong to an AG-UI run.")) from None
    entries = []
    for interrupt, decision in zip(interrupts, approval.get("decisions") or [], strict=False):
        kind, words = decision.get("type"), as_text(decision.get("message"))
        if interrupt.get("tool"):
            payload: dict[str, Any] = {"approved": kind == "approve"}
            if words:
                payload["reason"] = words
            entries.append(ResumeEntry(interrupt_id=interrupt["id"], status="resolved", payload=payload))
        elif kind == "respond":
            entries.append(ResumeEntry(interrupt_id=interrupt["id"], status="resolved", payload=words))
        else:
            entries.append(ResumeEntry(interrupt_id=interrupt["id"], status="cancelled"))
    return entries


@dataclass
class RunState:
    """What one run has streamed so far."""

    wrote_text: bool = False
    message_id: str = ""
    tool_names: dict[str, str] = dataclass_field(default_factory=dict)
    tool_arguments: dict[str, list[str]] = dataclass_field(default_factory=dict)
    reasoning: dict[str, list[str]] = dataclass_field(default_factory=dict)
    ended: bool = False


def text_events(message_id: str | None, delta: str, state: RunState) -> Iterator[ReplyEvent]:
    new_message = bool(message_id) and message_id != state.message_id
    state.message_id = message_id or state.message_id
    if not delta:
        return
    if state.wrote_text and new_message:
        delta = "\n\n" + delta
    state.wrote_text = True
    yield TextDelta(text=delta)


def tool_started(call_id: str, name: str, state: RunState) -> ToolStarted:
    state.tool_names[call_id] = name
    state.tool_arguments[call_id] = []
    return ToolStarted(id=call_id, name=name or "tool")


def add_arguments(call_id: str, delta: str, state: RunState) -> None:
    parts = state.tool_arguments.setdefault(call_id, [])
    if sum(map(len, parts)) < MAX_TOOL_ARGUMENTS_CHARS:
        parts.append(delta)


def reasoning_events(message_id: str, state: RunState) -> Iterator[ReplyEvent]:
    """A finished reasoning message as a folded chip (ToolStarted, then ToolFinished with the text)."""
    text = "".join(state.reasoning.pop(message_id, []))
    if text.strip():
        chip = REASONING_PREFIX + (message_id or uuid.uuid4().hex)
        yield ToolStarted(id=chip, name="Reasoning")
        yield ToolFinished(id=chip, result=text)


def approval_requested(interrupts: list[Any], state: RunState) -> ApprovalRequested:
    """An interrupt outcome as the normalised request: one action per interrupt."""
    actions, listed = [], []
    for interrupt in interrupts:
        call_id = interrupt.tool_call_id or ""
        is_tool = interrupt.reason == "tool_call" and bool(call_id)
        if is_tool:
            arguments = parse_json_object("".join(state.tool_arguments.get(call_id, [])) or "{}") or {}
            name = state.tool_names.get(call_id) or "tool"
            actions.append({"name": name, "args": arguments, "allowed": ["approve", "reject"]})
        else:
            args = {"question": interrupt.message} if interrupt.message else {}
            actions.append(
                {"name": interrupt.reason or "question", "args": args, "allowed": ["respond", "reject"]}
            )
        listed.append({"id": interrupt.id, "tool": is_tool})
    return ApprovalRequested(request_id=json.dumps({"interrupts": listed}), actions=actions)


def run_events(data: dict[str, Any], state: RunState) -> Iterator[ReplyEvent]:
    """The normalised events for one AG-UI event; sets `state.ended` at RUN_FINISHED."""
    kind = as_text(data.get("type"))
    if kind not in KNOWN_TYPES:
        return  # a type added to the protocol later: nothing this site knows to show
    try:
        event = EVENT.validate_python(data)
    except ValidationError as exc:
        raise UpstreamError(
            _("%(platform)s sent a %(kind)s event that does not follow AG-UI; the reply was cut off.")
            % {"platform": LABEL, "kind": kind}
        ) from exc
    match kind:
        case "RUN_STARTED":
            yield RunStarted(conversation_id=event.thread_id, run_id=event.run_id)
        case "TEXT_MESSAGE_START":
            state.message_id = event.message_id
            if state.wrote_text:
                yield TextDelta(text="\n\n")
                state.wrote_text = False
        case "TEXT_MESSAGE_CONTENT" | "TEXT_MESSAGE_CHUNK":
            yield from text_events(event.message_id, event.delta or "", state)
        case "TOOL_CALL_START":
            yield tool_started(event.tool_call_id, event.tool_call_name, state)
        case "TOOL_CALL_CHUNK":
            call_id = event.tool_call_id or next(reversed(state.tool_names), "")
            if call_id and call_id not in state.tool_names:
                yield tool_started(call_id, event.tool_call_name or "", state)
            add_arguments(call_id, event.delta or "", state)
        case "TOOL_CALL_ARGS":
            add_arguments(event.tool_call_id, event.delta, state)
        case "TOOL_CALL_END":
            arguments = "".join(state.tool_arguments.get(event.tool_call_id, []))
            yield ToolFinished(id=event.tool_call_id, arguments=arguments)
        case "TOOL_CALL_RESULT":
            yield ToolFinished(id=event.tool_call_id, result=content_text(event.content))
        case "STEP_STARTED":
            yield Activity(text=short(_("Step: %(step)s") % {"step": event.step_name}))
        case "SUBAGENT_STARTED":
            yield Activity(text=short(_("Asking %(agent)s") % {"agent": event.name}))
        case "REASONING_START":
            yield Activity(text=_("Thinking…"))
        case "REASONING_MESSAGE_CONTENT" | "REASONING_MESSAGE_CHUNK":
            state.reasoning.setdefault(event.message_id or "", []).append(event.delta or "")
        case "REASONING_MESSAGE_END" | "REASONING_END":
            yield from reasoning_events(event.message_id, state)
        case "CUSTOM":
            value = f": {event.value}" if isinstance(event.value, str | int | float) else ""
            yield Activity(text=short(f"{event.name}{value}"))
        case "RUN_ERROR":
            raise UpstreamError(
                _("The agent reported an error: %(detail)s") % {"detail": event.message[:300]}
            )
        case "RUN_FINISHED":
            for message_id in list(state.reasoning):
                yield from reasoning_events(message_id, state)
            if event.usage:
                yield Usage(
                    input_tokens=sum(u.input_tokens or 0 for u in event.usage),
                    output_tokens=sum(u.output_tokens or 0 for u in event.usage),
                )
            state.ended = True
            outcome = event.outcome
            if outcome is not None and outcome.type == "interrupt":
                yield approval_requested(outcome.interrupts, state)
            else:
                yield RunFinished()
    # State and message snapshots, raw events and activity messages carry nothing to show here.


class AGUIProvider(Provider, platform=PLATFORM):
    default_base_url = ""
    sends_history = True
    needs_key = False
    accepted_file_types = IMAGE_TYPES
    agent_options = {**HISTORY_OPTIONS}

    @classmethod
    def option_value_problems(cls, options: dict[str, Any]) -> list[str]:
        return history_option_problems(options)

    @property
    def endpoint(self) -> str:
        path = (self.agent.upstream_id if self.agent else "").strip()
        base = self.connection.base_url.rstrip("/")
        return base if path in ("", "/") else f"{base}/{path.lstrip('/')}"

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.connection.api_key:
            headers["Authorization"] = f"Bearer {self.connection.api_key}"
        return headers

    async def run_input(self, turn: Turn) -> RunAgentInput:
        messages: list[Message] = []
        for message in turn.history:
            if message.role == "user":
                messages.append(await user_message(message.id, message.text, message.images))
            else:
                messages += assistant_messages(message)
        resume = None
        if turn.approval is not None:
            resume = resume_entries(turn.approval)
        else:
            messages.append(await user_message(f"u-{uuid.uuid4().hex}", turn.text, turn.files))
        return RunAgentInput(
            thread_id=turn.upstream_conversation_id or f"chatsite-{uuid.uuid4().hex}",
            run_id=f"run-{uuid.uuid4().hex}",
            messages=messages,
            tools=[],
            context=[],
            state={},
            forwarded_props={},
            resume=resume,
        )

    async def _stream(self, turn: Turn) -> AsyncIterator[ReplyEvent]:
        body = (await self.run_input(turn)).model_dump(mode="json", by_alias=True, exclude_none=True)
        async with open_stream(
            "POST", self.endpoint, platform=LABEL, client=self.client, json=body, headers=self.headers()
        ) as response:
            # A resumed run continues the paused reply: after its text, a new paragraph.
            paused_text = turn.approval is not None and bool(turn.history and turn.history[-1].text)
            state = RunState(wrote_text=paused_text)
            async for sse in iter_sse(response):
                data = parse_json_object(sse.data)
                if data is None:
                    raise UpstreamError(
                        _("%(platform)s sent an event that is not JSON; the reply was cut off there.")
                        % {"platform": LABEL}
                    )
                for event in run_events(data, state):
                    yield event
                if state.ended:
                    return
        raise UpstreamError(
            _("%(platform)s closed the stream before the run finished; the reply is incomplete.")
            % {"platform": LABEL}
        )

    async def check_connection(self) -> str:
        """Start a run with no messages and close it at RUN_STARTED.

        AG-UI has no metadata route over HTTP (capabilities are a method of the
        client library), so the check is the protocol's own first exchange: the
        endpoint must answer a `RunAgentInput` with an event stream whose first
        event is RUN_STARTED. With no message there is nothing for the agent to answer.
        """
        body = RunAgentInput(
            thread_id=f"chatsite-check-{uuid.uuid4().hex}", run_id=f"run-{uuid.uuid4().hex}", messages=[]
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        async with open_stream(
            "POST",
            self.endpoint,
            platform=LABEL,
            client=self.client,
            json=body,
            headers=self.headers(),
            timeout=upstream_timeout(read=30),
        ) as response:
            if "text/event-stream" not in response.headers.get("content-type", ""):
                raise UpstreamError(
                    _("%(address)s answered, but not with an AG-UI event stream.")
                    % {"address": self.endpoint}
                )
            async for sse in iter_sse(response):
                data = parse_json_object(sse.data) or {}
                if data.get("type") == "RUN_STARTED":
                    version = as_text(data.get("protocolVersion"))
                    said = f" (AG-UI {version})" if version else ""
                    return _("Connected: %(address)s speaks AG-UI%(version)s and started a run.") % {
                        "address": self.endpoint,
                        "version": said,
                    }
                if data.get("type") == "RUN_ERROR":
                    break
        raise UpstreamError(_("%(address)s did not start an AG-UI run.") % {"address": self.endpoint})
