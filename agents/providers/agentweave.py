"""AgentWeave chat via SSE (seed 004; PROTOCOLS.md D).

One `POST {base}/api/v1/chat/agent/{agent_id}` per user message, answered with
data-only SSE frames `{"action", "message", "agent_id", "result"}`:
`send_message.delta` carries a new text segment, `send_message.completed` the
full output (which replaces the segments), `send_message.heartbeat` nothing.
A `result.code` other than 201000 is an error, in any frame.

Where the document is silent the choice is marked [guess]; the fake
(agents.fakes.agentweave) can be made to behave either way.
"""

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agents.platforms import platform_label
from agents.providers.base import IMAGE_AND_DOCUMENT_TYPES, Option, Provider, Turn, UpstreamError
from agents.providers.events import ReplyEvent, RunFinished, RunStarted, TextDelta, TextReplace
from agents.providers.http import (
    as_text,
    capped_request,
    error_detail,
    http_error,
    iter_sse,
    parse_json_object,
    read_capped,
    read_error_body,
    transport_errors,
)
from agents.providers.limits import within_limits

PLATFORM = "agentweave"
LABEL = platform_label(PLATFORM)
SUCCESS_CODE = 201000
OUTPUT_TYPES = {"text": gettext_lazy("Text"), "media": gettext_lazy("Media")}
PAY_ACCOUNTS = {"Person": gettext_lazy("Person (the key's owner)"), "Org": gettext_lazy("Organisation")}
DELTA = "send_message.delta"
COMPLETED = "send_message.completed"
HEARTBEAT = "send_message.heartbeat"
CHECK_MESSAGE = "Reply with the single word OK."
DEFAULT_UPLOAD_URL = "https://rest.agentweave.ai/upload_file"


@dataclass(frozen=True)
class UploadedFile:
    """A file the platform holds: `file_url` goes into the chat call as `file.file_url`."""

    file_url: str
    thread_id: str = ""


def validate_options(options: dict[str, Any]) -> list[str]:
    """What is wrong with an agent's AgentWeave options, in words for the admin form.

    `type` is "text" (the default) or "media"; `org_id` is optional and, when
    set, needs `pay_account` "Person" or "Org" (the document makes it required
    then).
    """
    problems = []
    output_type = options.get("type", "text")
    if output_type not in OUTPUT_TYPES:
        problems.append(_("type must be “text” or “media”, not %(value)s.") % {"value": repr(output_type)})
    org_id = options.get("org_id") or ""
    pay_account = options.get("pay_account") or ""
    if not isinstance(org_id, str):
        problems.append(_("org_id must be text."))
    elif org_id.strip():
        if not pay_account:
            problems.append(_("pay_account is required when org_id is set: “Person” or “Org”."))
        elif pay_account not in PAY_ACCOUNTS:
            problems.append(
                _("pay_account must be “Person” or “Org”, not %(value)s.") % {"value": repr(pay_account)}
            )
    elif pay_account:
        problems.append(_("pay_account only applies together with org_id: set org_id or clear pay_account."))
    return problems


def frame_error(data: dict[str, Any], *, answering: bool = False) -> UpstreamError | None:
    """The error a frame's `result` reports, or None when it reports success.

    [guess] A frame without `result` (or without `result.code`) counts as
    success: the document only says what 201000 means. The code looks like an
    HTTP status followed by three digits (201000 = 201), so that status decides
    whether sending again may help, and only while the agent is not yet
    `answering` (a retry then could answer the message twice).
    """
    result = data.get("result")
    if not isinstance(result, dict) or result.get("code") is None:
        return None
    code = result["code"]
    try:
        number = int(code)
    except (TypeError, ValueError):
        number = None
    if number == SUCCESS_CODE:
        return None
    status = number // 1000 if number is not None and 100_000 <= number <= 599_999 else None
    detail = as_text(result.get("message")).strip()[:300] or _("no details were given")
    return UpstreamError(
        _("%(platform)s reported an error (code %(code)s): %(detail)s")
        % {"platform": LABEL, "code": code, "detail": detail},
        retryable=not answering and status in (429, 502, 503, 504),
        status=status,
    )


def http_failure(response: httpx.Response) -> UpstreamError:
    """`http_error`, plus the platform's words when they sit in a `result` envelope [guess]."""
    error = http_error(response, LABEL)
    body = parse_json_object(response.text) or {}
    result = body.get("result")
    detail = as_text(result.get("message")).strip()[:300] if isinstance(result, dict) else ""
    if not detail or error_detail(response) or error.status == 401:
        return error
    return UpstreamError(
        error.message + " " + _("The platform said: %(detail)s") % {"detail": detail},
        retryable=error.retryable,
        status=error.status,
        retry_after=error.retry_after,
    )


class AgentWeaveProvider(Provider, platform=PLATFORM):
    default_base_url = "https://chat.agentweave.ai"
    # The document gives no limit on `content`.
    max_input_chars = None
    agent_options = {
        "type": Option(
            gettext_lazy("The agent's output type."), "choice", OUTPUT_TYPES, label=gettext_lazy("Type")
        ),
        "org_id": Option(
            gettext_lazy("The organisation whose credits pay for the chat (empty: the key owner's own)."),
            label=gettext_lazy("Organisation id"),
        ),
        "pay_account": Option(
            gettext_lazy("With an organisation, who pays."),
            "choice",
            PAY_ACCOUNTS,
            label=gettext_lazy("Pay account"),
        ),
    }
    credential_options = {
        "upload_url": Option(
            format_lazy(
                gettext_lazy("Where files are uploaded (default {address})."), address=DEFAULT_UPLOAD_URL
            ),
            "url",
            label=gettext_lazy("Upload URL"),
        ),
    }

    # [guess] The document names no file types; these are the ones a chat agent reads
    # (as SketricGen's list). The chat call has one `file.file_url`, so one file per message.
    accepted_file_types = IMAGE_AND_DOCUMENT_TYPES
    max_files = 1

    @classmethod
    def option_value_problems(cls, options: dict[str, Any]) -> list[str]:
        return validate_options(options)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.uploaded: dict[str, str] = {}

    def chat_url(self, agent_id: str) -> str:
        return f"{self.connection.base_url.rstrip('/')}/api/v1/chat/agent/{quote(agent_id, safe='')}"

    @property
    def headers(self) -> dict[str, str]:
        # The document shows the token or key as the whole header value, without "Bearer".
        return {"Authorization": self.connection.api_key, "Accept": "text/event-stream"}

    @property
    def upload_url(self) -> str:
        # The upload endpoint lives on another host than the chat: a credential option.
        return self.connection.options.get("upload_url") or DEFAULT_UPLOAD_URL

    def request_body(self, text: str, thread_id: str = "", file_url: str = "") -> dict[str, Any]:
        options = self.agent.options if self.agent else {}
        body: dict[str, Any] = {
            "content": text,
            "type": options.get("type") or "text",
            # A fresh id per call: Turn carries no id of the user's message, so a
            # retry of the same message is a new input to the platform.
            "id": str(uuid.uuid4()),
        }
        if thread_id:
            body["thread_id"] = thread_id
        if file_url:
            body["file"] = {"file_url": file_url}
        org_id = as_text(options.get("org_id")).strip()
        if org_id:
            body["org_id"] = org_id
            body["pay_account"] = options["pay_account"]
        return body

    async def _stream(self, turn: Turn) -> AsyncIterator[ReplyEvent]:
        if self.agent is None:
            raise UpstreamError(
                _("No %(platform)s agent is set for this conversation.") % {"platform": LABEL}
            )
        file_url = await self.upload_turn_file(turn) if turn.files else ""
        async for event in self._read_stream(
            self.agent.upstream_id, self.request_body(turn.text, turn.upstream_conversation_id, file_url)
        ):
            yield event

    async def _read_stream(self, agent_id: str, body: dict[str, Any]) -> AsyncIterator[ReplyEvent]:
        thread_id, answering = "", False
        with transport_errors(LABEL):
            async with self.client.stream(
                "POST", self.chat_url(agent_id), json=body, headers=self.headers
            ) as response:
                if response.status_code >= 400:
                    await read_error_body(response, platform=LABEL)
                    raise http_failure(response)
                if response.headers.get("content-type", "").startswith("application/json"):
                    # [guess] A refusal may come as a plain JSON envelope with a
                    # 2xx status instead of a stream.
                    await read_capped(response, platform=LABEL)
                    data = parse_json_object(response.text) or {}
                    raise frame_error(data) or UpstreamError(
                        _("%(platform)s answered with JSON instead of an event stream.") % {"platform": LABEL}
                    )
                async for sse in iter_sse(response):
                    # [guess] The document prints one frame as a pretty-printed object
                    # literal; on the wire each frame is taken to be JSON in `data:`
                    # lines (several `data:` lines are joined, so pretty-printed JSON works).
                    data = parse_json_object(sse.data)
                    if data is None:
                        raise UpstreamError(
                            _(
                                "%(platform)s sent an event that is not valid JSON; "
                                "the reply was cut off there."
                            )
                            % {"platform": LABEL}
                        )
                    error = frame_error(data, answering=answering)
                    if error is not None:
                        raise error
                    message = data.get("message")
                    message = message if isinstance(message, dict) else {}
                    # The document puts thread_id inside `message`; a top-level one is
                    # accepted too [guess]. The first one seen is the thread to continue.
                    frame_thread = as_text(message.get("thread_id")) or as_text(data.get("thread_id"))
                    if frame_thread and not thread_id:
                        thread_id = frame_thread
                        yield RunStarted(conversation_id=thread_id)
                    action = as_text(data.get("action"))
                    # [guess] `content` is text for both output types; a non-text
                    # content (a media object, say) is not shown.
                    content = as_text(message.get("content"))
                    if action == DELTA:
                        if content:
                            answering = True
                            yield TextDelta(text=content)
                    elif action == COMPLETED:
                        # The completed frame holds the full output, which may differ
                        # from the joined segments. [guess] An empty one keeps them.
                        if content:
                            yield TextReplace(text=content)
                        yield RunFinished()
                        return
                    elif action == HEARTBEAT:
                        # Only keeps the connection alive: every byte resets the read timeout.
                        continue
                    # Other actions carry nothing to show and are dropped.
        raise UpstreamError(
            _("%(platform)s closed the stream before the reply was completed; the reply is incomplete.")
            % {"platform": LABEL}
        )

    async def upload_turn_file(self, turn: Turn) -> str:
        """The public URL of the turn's file, uploaded once even when the turn is retried."""
        file = turn.files[0]
        if file.id not in self.uploaded:
            try:
                uploaded = await self.upload_file(
                    file.name, await file.load(), file.content_type, turn.upstream_conversation_id
                )
            except UpstreamError as exc:
                raise UpstreamError(
                    _("Uploading “%(file)s” to %(platform)s failed: %(detail)s")
                    % {"file": file.name, "platform": LABEL, "detail": exc.message},
                    retryable=exc.retryable,
                    status=exc.status,
                    retry_after=exc.retry_after,
                ) from exc
            self.uploaded[file.id] = uploaded.file_url
        return self.uploaded[file.id]

    async def upload_file(
        self, file_name: str, data: bytes, content_type: str, thread_id: str = ""
    ) -> UploadedFile:
        """Upload `data` for this agent's chat (PROTOCOLS.md D); uploading costs no credits.

        Two steps: ask `upload_url` for a place to put the file, then PUT the
        bytes there. [guess] The first request takes the same `Authorization`
        header as the chat and answers `{"data": {id, upload, public,
        thread_id}}`, possibly with a `result` envelope like the frames.
        """
        if self.agent is None:
            raise UpstreamError(
                _("Files are uploaded to a %(platform)s agent; none is set.") % {"platform": LABEL}
            )
        request_data: dict[str, Any] = {
            "agent_id": self.agent.upstream_id,
            "file_name": file_name,
            "file_type": content_type,
            "file_size": len(data),
            "hash": hashlib.sha256(data).hexdigest(),
            "category": "chat",
        }
        if thread_id:
            request_data["thread_id"] = thread_id
        with transport_errors(LABEL):
            response = await capped_request(
                "POST",
                self.upload_url,
                platform=LABEL,
                client=self.client,
                json={"request_type": "upload_file", "request_data": request_data},
                headers={"Authorization": self.connection.api_key, "Accept": "application/json"},
            )
        if response.status_code >= 400:
            raise http_failure(response)
        answer = parse_json_object(response.text)
        if answer is None:
            raise UpstreamError(
                _("%(platform)s answered the upload with something other than a JSON object.")
                % {"platform": LABEL}
            )
        error = frame_error(answer)
        # [guess] The REST host may use another success code (200000, say): only a
        # code whose status part is an error fails the upload.
        if error is not None and not (error.status and error.status < 400):
            raise error
        place = answer.get("data")
        place = place if isinstance(place, dict) else {}
        upload, public = as_text(place.get("upload")), as_text(place.get("public"))
        if not upload.startswith(("https://", "http://")) or not public:
            raise UpstreamError(_("%(platform)s did not say where to upload the file.") % {"platform": LABEL})
        with transport_errors(LABEL):
            response = await capped_request(
                "PUT",
                upload,
                platform=LABEL,
                client=self.client,
                content=data,
                headers={"Content-Type": content_type},
            )
        if response.status_code >= 400:
            raise http_failure(response)
        return UploadedFile(file_url=public, thread_id=as_text(place.get("thread_id")) or thread_id)

    real_turn_check = True

    async def check_connection(self) -> str:
        """Post an empty message, which the platform refuses before any turn: no credits spent.

        To the agent itself, or to a placeholder for a credential on its own
        [guess]: the platform checks the key first, so 401/403 means a bad key
        and any other refusal means the key was accepted.
        """
        return await self._probe_key(self.agent.upstream_id if self.agent else "connection-check")

    async def check_with_real_turn(self) -> str:
        """One short real chat turn (it may cost the account a few credits)."""
        if self.agent is None:
            return await self.check_connection()
        problems = validate_options(self.agent.options)
        if problems:
            raise UpstreamError(
                _("This agent's %(platform)s settings need fixing: %(problems)s")
                % {"platform": LABEL, "problems": " ".join(problems)}
            )
        body = self.request_body(CHECK_MESSAGE)
        thread_id, text = "", ""
        # The relay's limits on a reply hold for this one too.
        events = within_limits(
            self._read_stream(self.agent.upstream_id, body),
            max_chars=settings.UPSTREAM_MAX_REPLY_CHARS,
            idle_seconds=settings.UPSTREAM_IDLE_SECONDS,
            total_seconds=settings.UPSTREAM_MAX_REPLY_SECONDS,
        )
        async for event in events:
            if isinstance(event, RunStarted):
                thread_id = event.conversation_id
            elif isinstance(event, TextDelta):
                text += event.text
            elif isinstance(event, TextReplace):
                text = event.text
        said = " ".join(text.split())
        said = said[:80] + "…" if len(said) > 80 else said
        return _("Connected to %(platform)s: the agent answered “%(said)s” in thread %(thread)s.") % {
            "platform": LABEL,
            "said": said,
            "thread": thread_id or _("(none given)"),
        }

    async def _probe_key(self, agent_id: str) -> str:
        url = self.chat_url(agent_id)
        with transport_errors(LABEL):
            response = await capped_request(
                "POST",
                url,
                platform=LABEL,
                client=self.client,
                json={"content": "", "type": "text"},
                headers=self.headers,
            )
        if response.status_code in (401, 403):
            raise http_failure(response)
        if response.status_code >= 500:
            raise http_failure(response)
        return _(
            "%(platform)s accepted the key (the empty probe message was refused with HTTP %(status)s, "
            "as expected; no agent turn ran). “Test with one real message” on an agent shows a whole "
            "reply, and may cost credits."
        ) % {"platform": LABEL, "status": response.status_code}
