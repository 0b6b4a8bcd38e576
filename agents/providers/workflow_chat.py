"""The B3OS "Caddie" workflow chat stream (seed 002; PROTOCOLS.md B).

`POST {base}/v1/ai/workflow/chat/stream` with a Bearer key. The client names
the conversation (`conversationId`, a UUID4 made on the first turn) and each
turn (`requestId`, a new UUID4). The reply is SSE: data-only frames whose kind
is in the JSON `type` (a named `event:` line is accepted too); heartbeats are
`:` comments, which keep the read timeout from firing and are otherwise
ignored.

When the connection breaks mid-reply, the same `requestId` is posted again
with `lastEventIndex` and no `message`, and the reply continues where it
stopped (see `WorkflowChatProvider.replay_attempts`).
"""

import asyncio
import base64
import json
import random
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from httpx_sse import ServerSentEvent

from agents.platforms import platform_label
from agents.providers.base import IMAGE_TYPES, Option, Provider, Turn, UpstreamError
from agents.providers.events import (
    Activity,
    ReplyEvent,
    ResumePoint,
    Retrying,
    RunFinished,
    RunStarted,
    TextDelta,
    TextReplace,
    ToolFinished,
    ToolStarted,
)
from agents.providers.http import (
    as_text,
    http_error,
    iter_sse,
    open_stream,
    read_error_body,
    transport_errors,
)

PLATFORM = "workflow_chat"
LABEL = platform_label(PLATFORM)
PATH = "/v1/ai/workflow/chat/stream"
PREFERRED_MODES = {
    "planning": gettext_lazy("Planning"),
    "building": gettext_lazy("Building"),
    "repair": gettext_lazy("Repair"),
    "conversation": gettext_lazy("Conversation"),
}
AGENT_VERSIONS = {
    "v1": gettext_lazy("Version 1"),
    "v2": gettext_lazy("Version 2"),
    "both": gettext_lazy("Both"),
}
TEMPLATE_SEARCH_MODES = {"lightweight": gettext_lazy("Lightweight"), "hybrid": gettext_lazy("Hybrid")}
ACTIVITY_CHARS = 200
# [guess] The seed gives no limit for `images`; the request carries them base64-encoded
# (a third larger), so the raw bytes of one message's images are capped before encoding.
MAX_IMAGE_BYTES_PER_MESSAGE = 20 * 1024 * 1024
SUMMARY_ITEMS = 30


# Base64 and JSON encoding hold the GIL however they are run: a large image is encoded a
# slice at a time, the event loop let in between, and spliced into the body as it is.
ENCODE_SLICE_BYTES = 3 * 128 * 1024


async def data_url(content_type: str, data: bytes) -> bytes:
    """`data` as a base64 data URL (ASCII, nothing in it needs escaping in JSON)."""
    parts = [f"data:{content_type};base64,".encode()]
    for start in range(0, len(data), ENCODE_SLICE_BYTES):
        parts.append(base64.b64encode(data[start : start + ENCODE_SLICE_BYTES]))
        await asyncio.sleep(0)
    return b"".join(parts)


def json_body(body: dict[str, Any], images: Sequence[bytes] = ()) -> bytes:
    """`body` as httpx's `json=` would send it, with `images` (data URLs) as its `images` field."""
    encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    if not images:
        return encoded
    listed = b",".join(b'{"base64":"' + url + b'"}' for url in images)
    return encoded[:-1] + (b"," if body else b"") + b'"images":[' + listed + b"]}"


def short(text: str, limit: int = ACTIVITY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def node_items(nodes: Any) -> list[tuple[str, dict[str, Any]]]:
    """(id, node) pairs from `nodes` as an object keyed by id, or a list of nodes with an `id`."""
    if isinstance(nodes, dict):
        return [(str(key), node) for key, node in nodes.items() if isinstance(node, dict)]
    if isinstance(nodes, list):
        return [(as_text(node.get("id")), node) for node in nodes if isinstance(node, dict)]
    return []


def validate_definition(value: Any) -> list[str]:
    """Problems with a workflow `definition`, for the agent's admin form (empty: fine or unset).

    The seed: the graph must hold `nodes`, with a "root" node of type "manual",
    and every node named in a `children` array must be present. `value` may be
    the JSON text an admin typed.
    """
    if value is None or value == "" or value == {}:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [_("The definition is not valid JSON.")]
    if not isinstance(value, dict):
        return [_("The definition must be a JSON object.")]
    nodes = value.get("nodes")
    if not isinstance(nodes, dict | list) or not nodes:
        return [_("The definition must hold “nodes”, with a “root” node of type “manual”.")]
    items = dict(node_items(nodes))
    problems = []
    root = items.get("root")
    if root is None:
        problems.append(_("The definition has no “root” node."))
    elif root.get("type") != "manual":
        problems.append(
            _("The “root” node must be of type “manual”, not “%(type)s”.")
            % {"type": as_text(root.get("type"))}
        )
    for node_id, node in items.items():
        children = node.get("children") or []
        if not isinstance(children, list):
            problems.append(_("The “children” of node “%(node)s” must be a list.") % {"node": node_id})
            continue
        for child in children:
            if not isinstance(child, str) or child not in items:
                problems.append(
                    _("Node “%(node)s” names a child “%(child)s” that is not in “nodes”.")
                    % {"node": node_id, "child": child}
                )
    return problems


def validate_options(options: dict[str, Any]) -> list[str]:
    """Problems with an agent's options (see `WorkflowChatProvider`), for the admin form."""
    problems = []
    enums = {
        "preferredMode": PREFERRED_MODES,
        "agentVersion": AGENT_VERSIONS,
        "templateSearchMode": TEMPLATE_SEARCH_MODES,
    }
    for name, allowed in enums.items():
        value = options.get(name)
        if value not in (None, "") and value not in allowed:
            problems.append(f"“{name}” must be one of {', '.join(allowed)}, not “{value}”.")
    timezone = options.get("timezone")
    if timezone not in (None, ""):
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            problems.append(f"“timezone” must be an IANA time zone such as Europe/Berlin, not “{timezone}”.")
    workflow_id = options.get("workflowId")
    if workflow_id not in (None, "") and not isinstance(workflow_id, str):
        problems.append("“workflowId” must be text.")
    problems.extend(validate_definition(options.get("definition")))
    return problems


def describe(item: Any) -> str:
    """One incomplete field or validation error, as a line of text."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        message = as_text(item.get("message")) or as_text(item.get("error"))
        where = ".".join(
            as_text(item.get(key)) for key in ("nodeId", "node", "field", "path") if as_text(item.get(key))
        )
        if message and where:
            return f"{where}: {message}"
        return message or where or json.dumps(item)[:200]
    return json.dumps(item)[:200]


def code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def workflow_summary(result: dict[str, Any]) -> str:
    """A readable Markdown block for a `done` event carrying a workflow."""
    workflow = result.get("workflow") if isinstance(result.get("workflow"), dict) else {}
    definition = workflow.get("definition") if isinstance(workflow.get("definition"), dict) else workflow
    nodes = node_items(definition.get("nodes"))
    name = short(as_text(workflow.get("name")), 120) or _("Untitled workflow")
    lines = ["**" + _("Workflow: %(name)s") % {"name": name} + "**"]
    description = short(as_text(workflow.get("description")), 300)
    if description:
        lines += ["", description]
    if nodes:
        lines += ["", _("Nodes (%(count)s):") % {"count": len(nodes)}]
        for node_id, node in nodes[:SUMMARY_ITEMS]:
            kind = as_text(node.get("type")) or "node"
            title = short(as_text(node.get("name")) or as_text(node.get("label")), 120)
            lines.append(f"- {code(node_id or '?')} ({kind})" + (f": {title}" if title else ""))
        if len(nodes) > SUMMARY_ITEMS:
            lines.append("- " + _("… and %(count)s more") % {"count": len(nodes) - SUMMARY_ITEMS})
    for key, heading in (
        ("incompleteFields", _("Fields still to fill in")),
        ("validationErrors", _("Validation errors")),
    ):
        items = result.get(key)
        if isinstance(items, list) and items:
            lines += ["", f"{heading}:"]
            lines += [f"- {short(describe(item), 300)}" for item in items[:SUMMARY_ITEMS]]
    if not result.get("validationErrors"):
        lines += ["", _("No validation errors.")]
    return "\n".join(lines)


def used_tools(utilization: Any) -> list[str]:
    """The tools a `done` event says the turn called.

    The platform's client types `toolUtilization` as `[{toolName, callCount,
    score}]`; an object of counts by name (this site's earlier reading) is read too.
    """
    if isinstance(utilization, dict):
        items = [{"toolName": name, "callCount": count} for name, count in utilization.items()]
    else:
        items = (
            [item for item in utilization if isinstance(item, dict)] if isinstance(utilization, list) else []
        )
    names = []
    for item in items:
        name = short(as_text(item.get("toolName")), 80)
        count = item.get("callCount")
        if name and isinstance(count, int) and not isinstance(count, bool) and count > 0:
            names.append(name)
    return names[:SUMMARY_ITEMS]


def tool_output(data: dict[str, Any]) -> str:
    """A `tool_result` event's output as text (JSON when structured); "" when it carries none.

    [guess] The platform's client types `tool_result` only as `{type, ...}`: the output is
    looked for under `result`, then `output`, and an `error` is shown as `{"error": ...}`.
    """
    for key in ("result", "output"):
        value = data.get(key)
        if value is not None and value != "":
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if data.get("error"):
        return json.dumps({"error": data["error"]}, ensure_ascii=False)
    return ""


def node_activity(data: dict[str, Any]) -> str:
    """A short description of a `node` event; its shape is undocumented [guess], so read widely."""
    node = data.get("node") if isinstance(data.get("node"), dict) else data.get("data")
    node = node if isinstance(node, dict) else data
    node_id = as_text(node.get("nodeId")) or as_text(node.get("id"))
    kind = as_text(node.get("nodeType")) or (as_text(node.get("type")) if node is not data else "")
    name = as_text(node.get("name")) or as_text(node.get("label")) or node_id
    if not name:
        return _("Working on the workflow")
    return short(_("Workflow node: %(node)s") % {"node": name} + (f" ({kind})" if kind else ""))


class Dropped(Exception):
    """The connection broke mid-reply in a way a replay can repair."""


@dataclass
class ReplyState:
    """What one turn has received so far, across replays."""

    request_id: str
    conversation_id: str = ""
    received: int = 0
    text: str = ""
    tools_started: int = 0
    open_tools: list[tuple[str, str]] = field(default_factory=list)
    tool_names: set[str] = field(default_factory=set)
    finished: bool = False

    def resume_point(self) -> ResumePoint:
        """What another process needs to replay the rest (the text is the reply's saved text)."""
        return ResumePoint(
            {
                "conversation_id": self.conversation_id,
                "request_id": self.request_id,
                "received": self.received,
                "tools_started": self.tools_started,
                "open_tools": [list(tool) for tool in self.open_tools],
                "tool_names": sorted(self.tool_names),
            }
        )

    @classmethod
    def resumed(cls, point: dict[str, Any]) -> "ReplyState":
        """The state at `point`, with `text`: the reply's text saved with it."""
        return cls(
            request_id=str(point["request_id"]),
            conversation_id=str(point["conversation_id"]),
            received=int(point["received"]),
            text=str(point.get("text", "")),
            tools_started=int(point.get("tools_started", 0)),
            open_tools=[(str(tool_id), str(name)) for tool_id, name in point.get("open_tools", [])],
            tool_names=set(point.get("tool_names", [])),
        )


class WorkflowChatProvider(Provider, platform=PLATFORM):
    default_base_url = "https://api.b3os.org"
    resumable = True
    max_input_chars = None  # the seed gives no limit
    agent_options = {
        "preferredMode": Option(
            gettext_lazy("What the agent should do."),
            "choice",
            PREFERRED_MODES,
            label=gettext_lazy("Preferred mode"),
        ),
        "agentVersion": Option(
            gettext_lazy("Which agent version answers."),
            "choice",
            AGENT_VERSIONS,
            label=gettext_lazy("Agent version"),
        ),
        "templateSearchMode": Option(
            gettext_lazy("How workflow templates are searched."),
            "choice",
            TEMPLATE_SEARCH_MODES,
            label=gettext_lazy("Template search mode"),
        ),
        "timezone": Option(
            gettext_lazy("An IANA time zone used when the browser does not say (e.g. Europe/Berlin)."),
            label=gettext_lazy("Time zone"),
        ),
        "workflowId": Option(
            gettext_lazy("The workflow the conversations are about."), label=gettext_lazy("Workflow id")
        ),
        "definition": Option(
            gettext_lazy("A workflow graph (JSON object) with a root node of type manual."),
            "json",
            label=gettext_lazy("Definition"),
        ),
    }

    accepted_file_types = IMAGE_TYPES

    @classmethod
    def option_value_problems(cls, options: dict[str, Any]) -> list[str]:
        return validate_options(options)

    # Replay after a broken connection: attempts in a row without a new event,
    # and the first backoff in seconds (doubled each attempt, with jitter).
    replay_attempts = 3
    replay_max_total = 10
    replay_base_delay = 0.5

    @property
    def stream_url(self) -> str:
        return self.connection.base_url.rstrip("/") + PATH

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.connection.api_key}", "Accept": "text/event-stream"}

    @property
    def options(self) -> dict[str, Any]:
        return self.agent.options if self.agent else {}

    @staticmethod
    async def encoded_images(turn: Turn) -> list[bytes]:
        """`images` for the request: each file as a base64 data URL.

        [guess] The seed says only "base64 for LLM"; a data URL keeps the
        image's type with its bytes, as model APIs that take base64 images expect.
        """
        total = 0
        for file in turn.files:
            total += file.size
            if total > MAX_IMAGE_BYTES_PER_MESSAGE:
                raise UpstreamError(
                    _(
                        "“%(file)s” brings the images of this message over %(size)s MB, more than "
                        "%(platform)s is sent at once."
                    )
                    % {
                        "file": file.name,
                        "size": MAX_IMAGE_BYTES_PER_MESSAGE // (1024 * 1024),
                        "platform": LABEL,
                    }
                )
        images = []
        for file in turn.files:
            data = await file.load()
            images.append(await data_url(file.content_type, data))
        return images

    def request_body(self, turn: Turn, conversation_id: str, request_id: str) -> dict[str, Any]:
        """The request's fields but `images` (`json_body` adds them)."""
        body: dict[str, Any] = {
            "message": turn.text,
            "conversationId": conversation_id,
            "requestId": request_id,
        }
        for name in ("preferredMode", "agentVersion", "templateSearchMode", "timezone", "workflowId"):
            value = self.options.get(name)
            if value:
                body[name] = value
        # The user's own zone, once a turn carries it, wins over the agent's.
        timezone = getattr(turn, "timezone", "")
        if timezone:
            body["timezone"] = timezone
        definition = self.options.get("definition")
        if isinstance(definition, str) and definition.strip():
            definition = json.loads(definition)
        if definition:
            body["definition"] = definition
        return body

    async def _stream(self, turn: Turn) -> AsyncIterator[ReplyEvent]:
        if turn.resume_from is not None:
            # Another process relayed this reply and died: replay what came after its last checkpoint.
            state = ReplyState.resumed(turn.resume_from)
            conversation_id = state.conversation_id
            body = json_body(self.replay_body(state))
            reconnects = 1
        else:
            conversation_id = turn.upstream_conversation_id or str(uuid.uuid4())
            state = ReplyState(request_id=str(uuid.uuid4()), conversation_id=conversation_id)
            body = None
            reconnects = 0
        yield RunStarted(conversation_id=conversation_id, run_id=state.request_id)

        if body is None:
            body = json_body(
                self.request_body(turn, conversation_id, state.request_id), await self.encoded_images(turn)
            )
        failures = 0  # broken connections in a row that brought no new event
        while True:
            received_before = state.received
            try:
                async with aclosing(self._read(body, state, replay=reconnects > 0)) as events:
                    async for event in events:
                        yield event
                if state.finished:
                    return
                reason = "The stream ended before the reply was finished"
            except Dropped as exc:
                reason = str(exc)
            failures = 1 if state.received > received_before else failures + 1
            reconnects += 1
            if failures > self.replay_attempts or reconnects > self.replay_max_total:
                # Not retryable: sending the turn again would repeat what already arrived.
                raise UpstreamError(
                    _(
                        "The connection to %(platform)s broke off and could not be resumed; "
                        "the reply is incomplete."
                    )
                    % {"platform": LABEL}
                )
            # Full jitter could mean no pause at all; half to all of the doubled delay keeps some.
            delay = self.replay_base_delay * 2 ** (failures - 1) * random.uniform(0.5, 1.0)  # noqa: S311
            yield Retrying(attempt=failures, delay=round(delay, 3), reason=f"{reason}; resuming the reply.")
            await asyncio.sleep(delay)
            body = json_body(self.replay_body(state))

    @staticmethod
    def replay_body(state: ReplyState) -> dict[str, Any]:
        return {
            "conversationId": state.conversation_id,
            "requestId": state.request_id,
            "lastEventIndex": state.received,
        }

    async def _read(self, body: bytes, state: ReplyState, *, replay: bool) -> AsyncIterator[ReplyEvent]:
        """One connection's events; Dropped when it broke in a way a replay can repair."""
        answered = False
        try:
            async with open_stream(
                "POST",
                self.stream_url,
                platform=LABEL,
                client=self.client,
                content=body,
                headers={**self.headers, "Content-Type": "application/json"},
            ) as response:
                answered = True
                async for sse in iter_sse(response):
                    data = self._frame(sse)
                    index = data.get("index")
                    # [guess] Indexes count from 1 within a request, so after N events a replay
                    # starts at N + 1; a server that repeats events is tolerated.
                    if replay and type(index) is int and index <= state.received:
                        continue
                    state.received += 1
                    for event in self._translate(data, state):
                        yield event
                    if state.finished:
                        return
                    yield state.resume_point()
        except UpstreamError as exc:
            cause = exc.__cause__
            # A read timeout is the platform going quiet, not a broken connection: no replay.
            broken = isinstance(cause, httpx.TransportError) and not isinstance(cause, httpx.ReadTimeout)
            # A first request that never got an answer may not have arrived: nothing to replay.
            if broken and (answered or replay):
                raise Dropped("The connection broke off") from exc
            if replay and exc.status is not None and exc.retryable:
                raise Dropped(f"{LABEL} answered HTTP {exc.status}") from exc
            if replay and (exc.status is not None or cause is not None):
                # Part of the reply has arrived, so the turn must not be sent again.
                raise UpstreamError(
                    _(
                        "The connection to %(platform)s broke off and resuming the reply failed; "
                        "the reply is incomplete."
                    )
                    % {"platform": LABEL}
                    + " "
                    + exc.message,
                    status=exc.status,
                ) from exc
            raise

    @staticmethod
    def _frame(sse: ServerSentEvent) -> dict[str, Any]:
        """The frame as a JSON object with its kind in `type`."""
        try:
            value = json.loads(sse.data)
        except ValueError:
            value = None
        named = sse.event if sse.event and sse.event != "message" else ""
        if isinstance(value, str) and named == "chunk":
            # [guess] A named chunk event might carry its text as a bare JSON string.
            return {"type": "chunk", "data": value}
        if not isinstance(value, dict):
            raise UpstreamError(
                _("%(platform)s sent an event that is not valid JSON; the reply was cut off there.")
                % {"platform": LABEL}
            )
        if not as_text(value.get("type")) and named:
            value = {**value, "type": named}
        return value

    def _translate(self, data: dict[str, Any], state: ReplyState) -> Iterator[ReplyEvent]:
        kind = as_text(data.get("type")).lower()
        if kind == "chunk":
            text = as_text(data.get("data")) or as_text(data.get("content")) or as_text(data.get("text"))
            if text:
                state.text += text
                yield TextDelta(text=text)
        elif kind == "thinking":
            yield Activity(text=short(as_text(data.get("message"))) or _("Thinking…"))
        elif kind == "tool_start":
            name = short(as_text(data.get("toolName")), 80) or "tool"
            state.tools_started += 1
            tool_id = f"{state.request_id[:8]}-tool-{state.tools_started}"
            state.open_tools.append((tool_id, name))
            state.tool_names.add(name)
            yield ToolStarted(id=tool_id, name=name)
        elif kind == "tool_result":
            # [guess] Results name their tool when they can; otherwise the latest open tool ended.
            name = as_text(data.get("toolName"))
            matches = [i for i, (_tool, open_name) in enumerate(state.open_tools) if open_name == name]
            if state.open_tools:
                tool_id, _name = state.open_tools.pop(matches[0] if matches else -1)
                yield ToolFinished(id=tool_id, result=tool_output(data))
        elif kind == "node":
            yield Activity(text=node_activity(data))
        elif kind == "mode_switch":
            mode = as_text(data.get("mode")) or as_text(data.get("data"))
            if mode:
                yield Activity(text=short(_("Switched to %(mode)s mode") % {"mode": mode}))
        elif kind == "error":
            error = data.get("error")
            message = as_text(error) or (as_text(error.get("message")) if isinstance(error, dict) else "")
            raise UpstreamError(
                _("%(platform)s reported an error: %(detail)s")
                % {"platform": LABEL, "detail": short(message, 500) or _("the run failed.")}
            )
        elif kind == "done":
            yield from self._done(data, state)
        # Anything else (sheet_data, types added later) carries nothing to show and is dropped.

    @staticmethod
    def _done(data: dict[str, Any], state: ReplyState) -> Iterator[ReplyEvent]:
        for tool_id, _name in state.open_tools:
            yield ToolFinished(id=tool_id)
        state.open_tools.clear()
        for name in used_tools(data.get("toolUtilization")):
            if name not in state.tool_names:
                state.tools_started += 1
                tool_id = f"{state.request_id[:8]}-tool-{state.tools_started}"
                state.tool_names.add(name)
                yield ToolStarted(id=tool_id, name=name)
                yield ToolFinished(id=tool_id)
        result = data.get("data") if isinstance(data.get("data"), dict) else {}
        if as_text(result.get("type")) == "workflow":
            summary = workflow_summary(result)
            yield TextDelta(text=("\n\n" if state.text else "") + summary)
        else:
            message = as_text(result.get("message"))
            # [guess] The final message is the whole reply; it only adds something when it differs
            # from what the chunks already said.
            if message and not state.text:
                yield TextDelta(text=message)
            elif message and message.strip() != state.text.strip():
                yield TextReplace(text=message)
        state.finished = True
        yield RunFinished()

    async def check_connection(self) -> str:
        # No read-only endpoint is documented. The seed's own example posts `{}`: with a good key
        # that is refused as a bad request (no message) before anything runs [guess].
        with transport_errors(LABEL):
            async with self.client.stream("POST", self.stream_url, json={}, headers=self.headers) as response:
                status = response.status_code
                if status < 300:
                    return _("Connected to %(platform)s: the key was accepted.") % {"platform": LABEL}
                await read_error_body(response, platform=LABEL)
        if status in (400, 422):
            return _(
                "Connected to %(platform)s: the key was accepted "
                "(an empty test request was refused, as expected)."
            ) % {"platform": LABEL}
        raise http_error(response, LABEL)
