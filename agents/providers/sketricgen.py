"""SketricGen `run-workflow` (seeds 000, 001; PROTOCOLS.md A).

Streaming replies are AG-UI events over SSE. Types are compared without regard
to case (an older document used lower-case names) and keys are read in
snake_case or camelCase (standard AG-UI).
"""

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agents.platforms import platform_label
from agents.providers.base import (
    IMAGE_AND_DOCUMENT_TYPES,
    Option,
    Provider,
    Turn,
    TurnFile,
    UpstreamAgent,
    UpstreamError,
    UserRef,
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
)
from agents.providers.http import (
    as_text,
    capped_request,
    http_error,
    iter_sse,
    open_stream,
    parse_json_object,
    read_capped,
    request_json,
    transport_errors,
    upstream_timeout,
)

MAX_CONTACT_ID = 255
DECISIONS = ("approve", "reject", "respond")
MAX_AGENT_PAGES = 50
DEFAULT_ADMIN_BASE_URL = "https://v9xof9ohlg.execute-api.us-east-1.amazonaws.com/dev/admin/v1"
PLATFORM = "sketricgen"
LABEL = platform_label(PLATFORM)
OUT_OF_CREDITS = gettext_lazy(
    "SketricGen halted the run: the agent's account is out of credits. "
    "An admin needs to top up the account before the agent can answer again."
)
# The run's results beyond its text: in JSON replies as fields [sdk]; in streams
# [guess] as AG-UI CUSTOM events named after those fields, or on RUN_FINISHED.
EXTRA_FIELDS = ("web_search_citations", "assets", "run_halted_out_of_credits")
MAX_LISTED = 20
# A non-streamed reply arrives whole when the run ends: the SDK documents a 300 s runtime timeout.
JSON_REPLY_SECONDS = 300
MAX_ACTIVITY_CHARS = 160
MAX_TOOL_ARGUMENTS_CHARS = 20_000
# Characters left as they are in a link target; parentheses and spaces are encoded.
URL_SAFE = ":/?#@!$&'*+,;=%~"
MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>#|~!])")
# The SDK's upload endpoints sit on the admin API's host and stage, beside `/admin/v1`.
UPLOAD_INIT_PATH = "/publicAssetsUploadInit"
UPLOAD_COMPLETE_PATH = "/publicAssetsUploadComplete"


def field(data: dict[str, Any], snake: str) -> Any:
    """A key in snake_case, or its camelCase twin."""
    if snake in data:
        return data[snake]
    head, *rest = snake.split("_")
    return data.get(head + "".join(part.title() for part in rest))


def contact_id(mode: str, user: UserRef) -> str:
    """The `contact_id` (at most 255 characters) that tells the platform which member is talking."""
    if mode == "username":
        value = user.username
    elif mode == "email":
        value = user.email
    elif mode == "user_id":
        digest = hmac.new(settings.SECRET_KEY.encode(), f"contact:{user.id}".encode(), hashlib.sha256)
        value = "member-" + digest.hexdigest()[:32]
    else:
        value = ""
    return value[:MAX_CONTACT_ID]


def link(label: str, url: Any) -> str:
    """A Markdown link to an http(s) URL, or just the label (escaped) when the URL is unusable."""
    label = MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(label.split())[:200])
    if not isinstance(url, str) or urlsplit(url.strip()).scheme.lower() not in ("http", "https"):
        return label
    return f"[{label}]({quote(url.strip(), safe=URL_SAFE)})"


def run_results(fields: dict[str, Any]) -> str:
    """Markdown for the sources a web search cited and the files the run returned ("" for none)."""
    blocks = []
    citations = fields.get("web_search_citations")
    if isinstance(citations, list):
        items = [c for c in citations if isinstance(c, dict) and c.get("url")][:MAX_LISTED]
        if items:
            lines = [
                f"{n}. {link(as_text(c.get('title')) or as_text(c.get('url')), c.get('url'))}"
                for n, c in enumerate(items, 1)
            ]
            blocks.append("**Sources**\n\n" + "\n".join(lines))
    assets = fields.get("assets")
    if isinstance(assets, list):
        items = [a for a in assets if isinstance(a, dict) and a.get("url")][:MAX_LISTED]
        if items:
            lines = []
            for asset in items:
                url = as_text(asset.get("url"))
                name = as_text(asset.get("file_name")) or urlsplit(url).path.rsplit("/", 1)[-1] or "file"
                kind = as_text(asset.get("content_type"))
                lines.append(f"- {link(name, url)}" + (f" ({kind})" if kind else ""))
            blocks.append("**Files**\n\n" + "\n".join(lines))
    return "\n\n".join(blocks)


def approval_requested(request: dict[str, Any]) -> ApprovalRequested:
    """The platform's `hitl_request` as the normalised event; actions pair with review configs in order."""
    actions = field(request, "action_requests") or []
    configs = field(request, "review_configs") or []
    normalised = []
    for index, action in enumerate(a for a in actions if isinstance(a, dict)):
        config = configs[index] if index < len(configs) and isinstance(configs[index], dict) else {}
        allowed = field(config, "allowed_decisions") or ["approve", "reject"]
        normalised.append(
            {
                "name": as_text(action.get("name")) or "action",
                "args": action.get("args") if isinstance(action.get("args"), dict) else {},
                "allowed": [d for d in allowed if d in DECISIONS],
            }
        )
    request_id = as_text(field(request, "request_id"))
    if not request_id or not normalised:
        raise UpstreamError(
            _("%(platform)s paused the run for approval but the request was incomplete.")
            % {"platform": LABEL}
        )
    return ApprovalRequested(request_id=request_id, actions=normalised)


def finished(results: dict[str, Any]) -> list[ReplyEvent]:
    """The end of a run: its sources and files as text, then the end; or the out-of-credits halt."""
    if results.get("run_halted_out_of_credits"):
        raise UpstreamError(str(OUT_OF_CREDITS))
    text = run_results(results)
    return [TextDelta(text="\n\n" + text), RunFinished()] if text else [RunFinished()]


def custom_event(data: dict[str, Any]) -> tuple[str, Any]:
    """The name and payload of a CUSTOM_EVENT (documented, shape unpublished) or AG-UI CUSTOM event.

    [guess] AG-UI names the fields `name` and `value`; `event`/`data`/`payload` are read too.
    """
    name = as_text(data.get("name")) or as_text(data.get("event")) or as_text(field(data, "event_name"))
    for key in ("value", "data", "payload"):
        if key in data:
            return name, data[key]
    return name, None


def hitl_from_custom(value: Any) -> dict[str, Any] | None:
    """The `hitl_request` a `deep_agents_hitl` event carries.

    [guess] Its payload is not published: the `hitl_request` object itself, an
    object holding `hitl_request`, or a list of interrupts as in the JSON
    reply's `hitl_interrupts` (each a request, or holding one in `value`;
    an interrupt's `id` stands in for a missing `request_id`).
    """
    if isinstance(value, dict) and isinstance(field(value, "hitl_request"), dict):
        return field(value, "hitl_request")
    if isinstance(value, dict) and field(value, "action_requests") is not None:
        return value
    items = (
        value
        if isinstance(value, list)
        else field(value, "hitl_interrupts")
        if isinstance(value, dict)
        else None
    )
    if not isinstance(items, list):
        return None
    merged: dict[str, Any] = {"request_id": "", "action_requests": [], "review_configs": []}
    for item in items:
        inner = item.get("value") if isinstance(item, dict) and isinstance(item.get("value"), dict) else item
        if not isinstance(inner, dict):
            continue
        merged["request_id"] = (
            merged["request_id"] or as_text(field(inner, "request_id")) or as_text(item.get("id"))
        )
        merged["action_requests"] += [a for a in field(inner, "action_requests") or [] if isinstance(a, dict)]
        merged["review_configs"] += [c for c in field(inner, "review_configs") or [] if isinstance(c, dict)]
    return merged if merged["action_requests"] else None


def workspace_activity(value: Any) -> str:
    """A line saying what a `deep_agents_workspace` event did to the agent's files.

    [guess] The payload is not published: an operation (`action`, `operation`,
    `op` or `type`) and one path (`path`, `file_path`, `file_name`, `name`) or
    a list of them (`files`, `paths`). Never more than a short line of text.
    """
    if not isinstance(value, dict):
        return _("Working with files in its workspace")
    verb = next(
        (as_text(value.get(k)) for k in ("action", "operation", "op", "type") if as_text(value.get(k))), ""
    )
    names = [
        as_text(value.get(k)) for k in ("path", "file_path", "file_name", "name") if as_text(value.get(k))
    ]
    for key in ("files", "paths"):
        listed = value.get(key)
        if isinstance(listed, list):
            for item in listed:
                item = (
                    item
                    if isinstance(item, str)
                    else as_text(field(item, "path"))
                    if isinstance(item, dict)
                    else ""
                )
                if item:
                    names.append(item)
    shown = ", ".join(name.rsplit("/", 1)[-1] for name in names[:3]) + (" …" if len(names) > 3 else "")
    verb = " ".join(verb.replace("_", " ").split())[:40]
    text = (
        (_("Workspace: %(files)s") % {"files": f"{verb} {shown}".strip()})
        if verb or shown
        else _("Working with files in its workspace")
    )
    return text[:MAX_ACTIVITY_CHARS]


@dataclass
class StreamState:
    """What one streamed run has sent so far."""

    wrote_text: bool = False
    message_id: str = ""
    pending_approval: dict[str, Any] | None = None
    tool_arguments: dict[str, list[str]] = dataclass_field(default_factory=dict)
    results: dict[str, Any] = dataclass_field(default_factory=dict)
    ended: bool = False


def stream_events(data: dict[str, Any], sse_event: str, state: StreamState) -> Iterator[ReplyEvent]:
    """The normalised events for one streamed AG-UI event; sets `state.ended` at a terminal event.

    The document: RUN_FINISHED, RUN_ERROR, RUN_PAUSED_HITL and
    RUN_HALTED_OUT_OF_CREDITS each end the run's stream.
    """
    kind = as_text(data.get("type")).upper() or sse_event.upper()
    if kind in ("TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_CHUNK"):
        delta = as_text(field(data, "delta"))
        message_id = as_text(field(data, "message_id"))
        new_message = bool(message_id) and message_id != state.message_id
        state.message_id = message_id or state.message_id
        if delta:
            if state.wrote_text and new_message:
                delta = "\n\n" + delta
            state.wrote_text = True
            yield TextDelta(text=delta)
    elif kind == "TEXT_MESSAGE_START":
        state.message_id = as_text(field(data, "message_id"))
        if state.wrote_text:
            # Two messages of one run are two paragraphs, never one run-on sentence.
            yield TextDelta(text="\n\n")
            state.wrote_text = False
    elif kind == "RUN_STARTED":
        yield RunStarted(
            conversation_id=as_text(field(data, "thread_id")), run_id=as_text(field(data, "run_id"))
        )
    elif kind == "TOOL_CALL_START":
        call_id = as_text(field(data, "tool_call_id"))
        state.tool_arguments[call_id] = []
        yield ToolStarted(id=call_id, name=as_text(field(data, "tool_call_name")) or "tool")
    elif kind == "TOOL_CALL_ARGS":
        parts = state.tool_arguments.setdefault(as_text(field(data, "tool_call_id")), [])
        if sum(map(len, parts)) < MAX_TOOL_ARGUMENTS_CHARS:
            parts.append(as_text(field(data, "delta")))
    elif kind == "TOOL_CALL_END":
        call_id = as_text(field(data, "tool_call_id"))
        yield ToolFinished(id=call_id, arguments="".join(state.tool_arguments.pop(call_id, [])))
    elif kind == "TOOL_CALL_RESULT":  # standard AG-UI; the document does not list it
        content = field(data, "content")
        result = content if isinstance(content, str) else json.dumps(content) if content is not None else ""
        if result:
            yield ToolFinished(id=as_text(field(data, "tool_call_id")), result=result)
    elif kind in ("CUSTOM_EVENT", "CUSTOM"):
        yield from custom_events(data, state)
    elif kind == "RUN_ERROR":
        message = as_text(field(data, "message")) or _("The agent's run failed.")
        raise UpstreamError(
            _("%(platform)s reported an error: %(detail)s") % {"platform": LABEL, "detail": message}
        )
    elif kind == "RUN_HALTED_OUT_OF_CREDITS":
        raise UpstreamError(str(OUT_OF_CREDITS))
    elif kind == "RUN_PAUSED_HITL":
        request = field(data, "hitl_request")
        request = request if isinstance(request, dict) else state.pending_approval
        if request is None:
            raise UpstreamError(
                _("%(platform)s paused the run for approval but sent nothing to approve.")
                % {"platform": LABEL}
            )
        state.ended = True
        yield approval_requested(request)
    elif kind == "RUN_FINISHED":
        result = field(data, "result")
        for source in (data, result if isinstance(result, dict) else {}):
            state.results.update({k: source[k] for k in EXTRA_FIELDS if source.get(k) is not None})
        state.ended = True
        yield from finished(state.results)
    # Anything else (TEXT_MESSAGE_END, types added later) carries nothing to show and is dropped.


def custom_events(data: dict[str, Any], state: StreamState) -> Iterator[ReplyEvent]:
    name, value = custom_event(data)
    if name == "deep_agents_hitl":
        request = hitl_from_custom(value)
        if request is None:
            raise UpstreamError(
                _("%(platform)s asked for approval but the request could not be read.") % {"platform": LABEL}
            )
        state.pending_approval = request
    elif name == "deep_agents_workspace":
        yield Activity(text=workspace_activity(value))
    elif name in EXTRA_FIELDS:
        state.results[name] = value


class SketricGenProvider(Provider, platform=PLATFORM):
    default_base_url = "https://chat-v2.sketricgen.ai"
    max_input_chars = 10_000
    contact_modes = {
        "none": gettext_lazy("None"),
        "username": gettext_lazy("Username"),
        "email": gettext_lazy("Email address"),
        "user_id": gettext_lazy("User id"),
    }
    agent_options = {
        "stream": Option(
            gettext_lazy("Stream the reply as it is written (off: one JSON reply)."),
            "flag",
            default=True,
            label=gettext_lazy("Stream"),
        ),
        "enable_hitl": Option(
            gettext_lazy("The agent may pause a run until the user approves its actions."),
            "flag",
            label=gettext_lazy("Allow approvals"),
        ),
        "contact_id": Option(
            gettext_lazy(
                "How the platform tells team members apart: none, the username, the email, "
                "or user_id (a stable id that reveals nothing)."
            ),
            "choice",
            contact_modes,
            label=gettext_lazy("Contact"),
        ),
        "disable_conversation_history": Option(
            gettext_lazy(
                "Each message is answered on its own, without the earlier messages of the conversation."
            ),
            "flag",
            default=False,
            label=gettext_lazy("Forget earlier messages"),
        ),
    }
    credential_options = {
        "admin_base_url": Option(
            format_lazy(
                gettext_lazy("Admin API address, for importing agents (default {address})."),
                address=DEFAULT_ADMIN_BASE_URL,
            ),
            "url",
            label=gettext_lazy("Admin API address"),
        ),
        "upload_init_url": Option(
            format_lazy(
                gettext_lazy("File upload, step 1 (default: the admin API's host + {path})."),
                path=UPLOAD_INIT_PATH,
            ),
            "url",
            label=gettext_lazy("Upload, step 1"),
        ),
        "upload_complete_url": Option(
            format_lazy(
                gettext_lazy("File upload, step 3 (default: the admin API's host + {path})."),
                path=UPLOAD_COMPLETE_PATH,
            ),
            "url",
            label=gettext_lazy("Upload, step 3"),
        ),
    }
    # The platform's upload allow-list (PROTOCOLS.md A) is wider (source code, spreadsheets);
    # these are the types this site can tell from the content.
    accepted_file_types = IMAGE_AND_DOCUMENT_TYPES
    files_without_text = True  # `user_input` may be empty when `assets` is set

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # file id per attachment, so a retried turn does not upload its files again
        self.uploaded: dict[str, str] = {}

    @classmethod
    def option_value_problems(cls, options: dict[str, Any]) -> list[str]:
        problems = []
        for flag in ("stream", "enable_hitl", "disable_conversation_history"):
            if flag in options and not isinstance(options[flag], bool):
                problems.append(f"{flag} must be true or false.")
        if options.get("contact_id", "none") not in cls.contact_modes:
            problems.append(f"contact_id must be one of: {', '.join(cls.contact_modes)}.")
        return problems

    @property
    def workflow_url(self) -> str:
        return self.connection.base_url.rstrip("/") + "/api/v1/run-workflow"

    @property
    def admin_base_url(self) -> str:
        return (self.connection.options.get("admin_base_url") or DEFAULT_ADMIN_BASE_URL).rstrip("/")

    def upload_url(self, path: str) -> str:
        option = "upload_init_url" if path == UPLOAD_INIT_PATH else "upload_complete_url"
        explicit = self.connection.options.get(option)
        return explicit or self.admin_base_url.removesuffix("/admin/v1") + path

    async def upload_files(self, files: Sequence[TurnFile]) -> list[str]:
        """The platform's file ids for `files`, uploaded in parallel (as the SDK does)."""
        results = await asyncio.gather(*(self.upload_file(file) for file in files), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [str(result) for result in results]

    async def upload_file(self, file: TurnFile) -> str:
        """The three steps of PROTOCOLS.md A: init, presigned multipart POST, complete."""
        if file.id in self.uploaded:
            return self.uploaded[file.id]
        assert self.agent is not None
        headers = {"X-API-KEY": self.connection.api_key, "Accept": "application/json"}
        try:
            init = await request_json(
                "POST",
                self.upload_url(UPLOAD_INIT_PATH),
                platform=LABEL,
                client=self.client,
                json={"agent_id": self.agent.upstream_id, "file_name": file.name},
                headers=headers,
            )
            file_id, upload = as_text(init.get("file_id")), init.get("upload")
            if not file_id or not isinstance(upload, dict) or not as_text(upload.get("url")):
                raise UpstreamError(
                    _("%(platform)s did not say where to upload the file.") % {"platform": LABEL}
                )
            fields = upload.get("fields") if isinstance(upload.get("fields"), dict) else {}
            limit = upload.get("max_file_bytes")
            if isinstance(limit, int) and file.size > limit:
                raise UpstreamError(
                    _("%(platform)s takes files of at most %(size)s MB.")
                    % {"platform": LABEL, "size": limit // (1024 * 1024)}
                )
            data = await file.load()
            content_type = as_text(fields.get("Content-Type")) or as_text(init.get("content_type"))
            # httpx writes `data` fields before `files`: policy fields first, file last, as S3 requires.
            with transport_errors(LABEL):
                response = await capped_request(
                    "POST",
                    upload["url"],
                    platform=LABEL,
                    client=self.client,
                    data={str(key): str(value) for key, value in fields.items()},
                    files={"file": (file.name, data, content_type or file.content_type)},
                )
            if response.status_code >= 400:
                raise http_error(response, LABEL)
            complete = await request_json(
                "POST",
                self.upload_url(UPLOAD_COMPLETE_PATH),
                platform=LABEL,
                client=self.client,
                json={"agent_id": self.agent.upstream_id, "file_id": file_id, "file_name": file.name},
                headers=headers,
            )
        except UpstreamError as exc:
            raise UpstreamError(
                _("Uploading “%(file)s” to %(platform)s failed: %(detail)s")
                % {"file": file.name, "platform": LABEL, "detail": exc.message},
                retryable=exc.retryable,
                status=exc.status,
                retry_after=exc.retry_after,
            ) from exc
        self.uploaded[file.id] = as_text(complete.get("file_id")) or file_id
        return self.uploaded[file.id]

    def request_body(self, turn: Turn, *, stream: bool, assets: Sequence[str] = ()) -> dict[str, Any]:
        assert self.agent is not None
        body: dict[str, Any] = {
            "agent_id": self.agent.upstream_id,
            "user_input": turn.text,
            "stream": stream,
        }
        if assets:
            body["assets"] = list(assets)
        if turn.upstream_conversation_id:
            body["conversation_id"] = turn.upstream_conversation_id
        if self.agent.options.get("disable_conversation_history"):
            body["disable_conversation_history"] = True
        contact = contact_id(self.agent.options.get("contact_id", "none"), turn.user)
        if contact:
            body["contact_id"] = contact
        if turn.approval is not None:
            body["user_input"] = ""
            body["hitl_resume"] = turn.approval
            body["enable_hitl"] = True
        elif self.agent.options.get("enable_hitl"):
            body["enable_hitl"] = True
        return body

    async def _stream(self, turn: Turn) -> AsyncIterator[ReplyEvent]:
        headers = {"api-key": self.connection.api_key}
        assets = await self.upload_files(turn.files)
        if self.agent and self.agent.options.get("stream") is False:
            async for event in self._json_reply(turn, headers, assets):
                yield event
            return
        async for event in self._streamed_reply(turn, headers, assets):
            yield event

    async def _json_reply(
        self, turn: Turn, headers: dict[str, str], assets: Sequence[str] = ()
    ) -> AsyncIterator[ReplyEvent]:
        async with open_stream(
            "POST",
            self.workflow_url,
            platform=LABEL,
            client=self.client,
            json=self.request_body(turn, stream=False, assets=assets),
            headers=headers,
            timeout=upstream_timeout(read=max(JSON_REPLY_SECONDS, settings.UPSTREAM_READ_TIMEOUT)),
        ) as response:
            await read_capped(response, platform=LABEL)
        data = parse_json_object(response.text)
        if data is None:
            raise UpstreamError(_("%(platform)s sent a reply that is not JSON.") % {"platform": LABEL})
        yield RunStarted(conversation_id=as_text(data.get("conversation_id")))
        if data.get("error"):
            raise UpstreamError(
                as_text(data.get("response"))
                or _("%(platform)s reported an error for this run.") % {"platform": LABEL}
            )
        text = as_text(data.get("response"))
        # A resumed run continues a reply that already has text: its own text is a new paragraph.
        yield TextDelta(text="\n\n" + text if text and turn.approval is not None else text)
        if data.get("run_paused_hitl"):
            request = data.get("hitl_request")
            request = request if isinstance(request, dict) else hitl_from_custom(data.get("hitl_interrupts"))
            if request is None:
                raise UpstreamError(
                    _("%(platform)s paused the run for approval but sent nothing to approve.")
                    % {"platform": LABEL}
                )
            yield approval_requested(request)
            return
        for event in finished(data):
            yield event

    async def _streamed_reply(
        self, turn: Turn, headers: dict[str, str], assets: Sequence[str] = ()
    ) -> AsyncIterator[ReplyEvent]:
        headers = {**headers, "Accept": "text/event-stream"}
        async with open_stream(
            "POST",
            self.workflow_url,
            platform=LABEL,
            client=self.client,
            json=self.request_body(turn, stream=True, assets=assets),
            headers=headers,
        ) as response:
            # A resumed run continues a reply that already has text: its own text is a new paragraph.
            state = StreamState(wrote_text=turn.approval is not None)
            async for sse in iter_sse(response):
                data = parse_json_object(sse.data)
                if data is None:
                    raise UpstreamError(
                        _("%(platform)s sent an event that is not valid JSON; the reply was cut off there.")
                        % {"platform": LABEL}
                    )
                for event in stream_events(data, sse.event, state):
                    yield event
                if state.ended:
                    return
        raise UpstreamError(
            _("%(platform)s closed the stream before the run finished; the reply is incomplete.")
            % {"platform": LABEL}
        )

    async def admin_get(self, path: str, **params: str) -> dict[str, Any]:
        try:
            return await request_json(
                "GET",
                self.admin_base_url + path,
                platform=LABEL,
                client=self.client,
                params=params,
                headers={"Authorization": f"Bearer {self.connection.api_key}", "Accept": "application/json"},
            )
        except UpstreamError as exc:
            if exc.status in (401, 403):
                raise UpstreamError(
                    _(
                        "%(platform)s's Admin API refused the key: listing agents needs a key with "
                        "“Manage resources” access (a key with only “Run agents” access can chat but not "
                        "import)."
                    )
                    % {"platform": LABEL}
                    + " "
                    + exc.message,
                    status=exc.status,
                ) from exc
            raise

    can_list_agents = True

    async def list_agents(self) -> list[UpstreamAgent]:
        found: list[UpstreamAgent] = []
        token = ""
        for _page in range(MAX_AGENT_PAGES):
            data = await self.admin_get("/agents", **({"next_token": token} if token else {}))
            for item in data.get("agents") or []:
                if isinstance(item, dict) and item.get("agent_id"):
                    kind = " ".join(filter(None, [item.get("agent_type"), item.get("agent_status")]))
                    draft = " (draft)" if item.get("is_draft") else ""
                    found.append(
                        UpstreamAgent(
                            id=str(item["agent_id"]),
                            name=str(item.get("name") or item["agent_id"]),
                            description=f"{kind}{draft}".strip(),
                        )
                    )
            token = as_text(data.get("next_token"))
            if not token:
                break
        return found

    async def check_connection(self) -> str:
        """Ask the Runtime API, with the key chatting uses, to run an empty message.

        Nothing public offers a dry run. The document says `user_input` is
        required unless `hitl_resume` or `assets` is sent, so the platform
        refuses an empty message before running anything: no agent runs and
        no credits are spent. [guess] It checks the key (and its Run agents
        access) before the body, as FastAPI dependencies do: 401 or 403 is a
        refused key, 400/404/422 an accepted one.
        """
        agent_id = self.agent.upstream_id if self.agent else "connection-check"
        with transport_errors(LABEL):
            response = await capped_request(
                "POST",
                self.workflow_url,
                platform=LABEL,
                client=self.client,
                json={"agent_id": agent_id, "user_input": "", "stream": False},
                headers={"api-key": self.connection.api_key, "Accept": "application/json"},
                timeout=upstream_timeout(read=30),
            )
        status = response.status_code
        if status == 403:
            raise UpstreamError(
                _(
                    "%(platform)s's Runtime API refused the key: chatting needs a key with "
                    "“Run agents” access."
                )
                % {"platform": LABEL}
                + " "
                + http_error(response, LABEL).message,
                status=status,
            )
        if status == 404 and self.agent is not None:
            raise UpstreamError(
                _("%(platform)s accepted the key but does not know the agent “%(agent)s”.")
                % {"platform": LABEL, "agent": agent_id}
            )
        if status in (400, 404, 422) or status < 300:
            return _(
                "Connected to %(platform)s: the Runtime API accepted the key, so it has “Run agents” access. "
                "The empty test message was refused before anything ran; no credits were spent."
            ) % {"platform": LABEL}
        raise http_error(response, LABEL)
