"""Agent Chat API by slug, Fifth Element AI (seed 003; PROTOCOLS.md C).

`POST {base}/v1/api/chat/{slug}` with a Bearer key and `{message, stream,
conversationId}`. A JSON reply is `{"data": {"response", "conversationId",
"metadata"}, "error": null}`; a streamed reply is `data: {"chunk": "..."}`
frames ending with `data: [DONE]`. Errors come in the same envelope,
`{"data": null, "error": {"name", "message", "details"}}`.

The document does not say how a stream carries the conversation id or an
error [guess]: the id is read from an `X-Conversation-Id` response header and
from any frame with a `conversationId` key (a first frame
`{"conversationId": ...}` most likely), and a frame `{"error": {...}}` is the
platform's error. When a new conversation's stream names no id, the next turn
cannot continue it: the reply says so with one Activity before it finishes.

Agent options (`Agent.options`):
- `stream` (bool, default true): false asks for the JSON reply.
- `user_identifier` ("off" | "username" | "email", default "off"): sends the
  chatting user's username or email in `x-user-identifier`, which the document
  allows for workspace keys so the platform keeps one history per user.
"""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agents.platforms import platform_label
from agents.providers.base import Option, Provider, Turn, UpstreamError
from agents.providers.events import Activity, ReplyEvent, RunFinished, RunStarted, TextDelta
from agents.providers.http import (
    as_text,
    capped_request,
    http_error,
    iter_sse,
    parse_json_object,
    read_capped,
    read_error_body,
    retry_after_seconds,
    transport_errors,
    upstream_timeout,
)

PLATFORM = "slug_chat"
LABEL = platform_label(PLATFORM)
DONE = "[DONE]"
USER_IDENTIFIER_CHOICES = {
    "off": gettext_lazy("Off"),
    "username": gettext_lazy("Username"),
    "email": gettext_lazy("Email address"),
}
# A slug no agent has, for checking a credential that has no agent yet.
PROBE_SLUG = "chatsite-connection-check"
NO_CONVERSATION_ID = gettext_lazy(
    "Agent Chat API did not say which conversation this reply belongs to, so the next message "
    "starts a new conversation there and the agent will not remember this one."
)


def option_value_problems(options: Mapping[str, Any]) -> list[str]:
    """What is wrong with the values of the agent options this adapter reads."""
    problems = []
    if "stream" in options and not isinstance(options["stream"], bool):
        problems.append(_("stream must be true or false."))
    if options.get("user_identifier", "off") not in USER_IDENTIFIER_CHOICES:
        problems.append(
            _("user_identifier must be one of: %(choices)s.")
            % {"choices": ", ".join(USER_IDENTIFIER_CHOICES)}
        )
    return problems


ERROR_KINDS = {
    "ValidationError": 400,
    "BadRequestError": 400,
    "UnauthorizedError": 401,
    "AuthenticationError": 401,
    "ForbiddenError": 403,
    "NotFoundError": 404,
    "RateLimitError": 429,
    "TooManyRequests": 429,
    "TooManyRequestsError": 429,
    "InternalServerError": 500,
}


def platform_error(
    status: int | None, error: Any, *, slug: str, retry_after: float | None = None
) -> UpstreamError | None:
    """The UpstreamError for the platform's `error` object, or None when it is not one.

    The error's `name` says what went wrong, else the HTTP status does.
    `status` is None for an error inside a reply (a stream frame, or a JSON
    reply that came with 200).
    """
    if isinstance(error, str) and error.strip():
        error = {"message": error}
    if not isinstance(error, dict):
        return None
    kind = ERROR_KINDS.get(as_text(error.get("name"))) or status
    said = as_text(error.get("message")).strip()[:300]
    said_part = " " + _("The platform said: %(detail)s") % {"detail": said} if said else ""
    code = f" (HTTP {status})" if status else ""
    named = {"platform": LABEL, "code": code}
    if kind == 400:
        message = _("%(platform)s did not accept the message%(code)s.") % named
        return UpstreamError(message + said_part, status=status)
    if kind == 401:
        message = (
            _("%(platform)s rejected this credential%(code)s. An admin needs to check its API key.") % named
        )
        return UpstreamError(message + said_part, status=status)
    if kind == 403:
        message = _("%(platform)s refused this request with this credential%(code)s.") % named
        return UpstreamError(message + said_part, status=status)
    if kind == 404:
        message = _(
            "%(platform)s does not know the agent “%(slug)s” or this address%(code)s. "
            "An admin needs to check the agent slug and the base URL."
        ) % {**named, "slug": slug}
        return UpstreamError(message + said_part, status=status)
    if kind == 429:
        wait = (
            _("Try again in %(seconds)s s.") % {"seconds": max(1, round(retry_after))}
            if retry_after
            else _("Try again in a moment.")
        )
        message = _("%(platform)s is rate limiting this account%(code)s.") % named + " " + wait
        return UpstreamError(message + said_part, retryable=True, status=status)
    # The document lists 500 among the transient errors worth retrying.
    if kind == 500 or status is None:
        message = (
            _("%(platform)s had a server error%(code)s. Try again in a moment.") % named
            if status
            else _("%(platform)s reported an error while answering%(code)s. Try again in a moment.") % named
        )
        return UpstreamError(message + said_part, retryable=True, status=status)
    return None


def response_error(response: httpx.Response, slug: str) -> UpstreamError:
    """The UpstreamError for a failed HTTP response: the platform's envelope, else by status alone."""
    status = response.status_code
    retry_after = retry_after_seconds(response)
    body = parse_json_object(response.text)
    error = platform_error(status, body.get("error") if body else None, slug=slug, retry_after=retry_after)
    if error is None:
        error = http_error(response, LABEL)
        if status == 500:
            error.retryable = True
    error.retry_after = retry_after  # type: ignore[attr-defined]
    return error


def frames_of(data: str) -> list[str]:
    """The frames in one SSE event's data.

    The document shows frames on consecutive lines without the blank line
    between events; a standard SSE reader then joins them into one event,
    separated by newlines. A data that is not one JSON value is split back.
    """
    data = data.strip()
    if data == DONE or "\n" not in data or parse_json_object(data) is not None:
        return [data]
    return [line.removeprefix("data:").strip() for line in data.splitlines() if line.strip()]


class SlugChatProvider(Provider, platform=PLATFORM):
    # The document names no host (its examples use a stand-in), so every
    # credential names its platform's address.
    default_base_url = ""
    max_input_chars = None
    agent_options = {
        "stream": Option(
            gettext_lazy("Stream the reply as it is written (off: one JSON reply)."),
            "flag",
            default=True,
            label=gettext_lazy("Stream"),
        ),
        "user_identifier": Option(
            gettext_lazy("Which member is talking, sent as x-user-identifier (workspace keys only)."),
            "choice",
            USER_IDENTIFIER_CHOICES,
            label=gettext_lazy("User identifier"),
        ),
    }

    @classmethod
    def option_value_problems(cls, options: dict[str, Any]) -> list[str]:
        return option_value_problems(options)

    @property
    def slug(self) -> str:
        return self.agent.upstream_id if self.agent else PROBE_SLUG

    def chat_url(self, slug: str) -> str:
        return f"{self.connection.base_url.rstrip('/')}/v1/api/chat/{quote(slug, safe='')}"

    def headers(self, turn: Turn | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.connection.api_key}"}
        if turn is not None and self.agent is not None:
            identifier = self.user_identifier(turn)
            if identifier:
                headers["x-user-identifier"] = identifier
        return headers

    def user_identifier(self, turn: Turn) -> str:
        """The `x-user-identifier` value for this turn's user, or "" to send none.

        A user without an email sends none. Header values must be ASCII: other
        characters are percent-encoded (UTF-8) [guess].
        """
        assert self.agent is not None
        choice = self.agent.options.get("user_identifier", "off")
        if choice == "email":
            value = turn.user.email
        elif choice == "username":
            value = turn.user.username
        else:
            return ""
        if not value or (value.isascii() and value.isprintable()):
            return value
        return quote(value, safe="@.+-_~!$&'*,;=:")

    def request_body(self, turn: Turn, *, stream: bool) -> dict[str, Any]:
        return {
            "message": turn.text,
            "stream": stream,
            "conversationId": turn.upstream_conversation_id or None,
        }

    @asynccontextmanager
    async def _post(self, turn: Turn, *, stream: bool) -> AsyncIterator[httpx.Response]:
        headers = self.headers(turn)
        headers["Accept"] = "text/event-stream" if stream else "application/json"
        with transport_errors(LABEL):
            async with self.client.stream(
                "POST", self.chat_url(self.slug), json=self.request_body(turn, stream=stream), headers=headers
            ) as response:
                if response.status_code >= 400:
                    await read_error_body(response, platform=LABEL)
                    raise response_error(response, self.slug)
                yield response

    async def _stream(self, turn: Turn) -> AsyncIterator[ReplyEvent]:
        stream = self.agent is None or self.agent.options.get("stream", True) is not False
        async with self._post(turn, stream=stream) as response:
            if not stream or "json" in response.headers.get("content-type", "").lower():
                # A JSON reply is read whichever was asked for: a platform may
                # ignore `stream: true` for some agents [guess].
                await read_capped(response, platform=LABEL)
                for event in self._json_events(response, turn):
                    yield event
                return
            async for event in self._stream_events(response, turn):
                yield event

    def _json_events(self, response: httpx.Response, turn: Turn) -> list[ReplyEvent]:
        body = parse_json_object(response.text)
        if body is None:
            raise UpstreamError(_("%(platform)s sent a reply that is not JSON.") % {"platform": LABEL})
        if body.get("error"):
            error = platform_error(None, body["error"], slug=self.slug)
            raise error or UpstreamError(
                _("%(platform)s reported an error while answering.") % {"platform": LABEL}
            )
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("response"), str):
            raise UpstreamError(_("%(platform)s sent a reply without a response text.") % {"platform": LABEL})
        conversation_id = as_text(data.get("conversationId")) or response.headers.get("x-conversation-id", "")
        events: list[ReplyEvent] = [RunStarted(conversation_id=conversation_id.strip())]
        if data["response"]:
            events.append(TextDelta(text=data["response"]))
        if not conversation_id.strip() and not turn.upstream_conversation_id:
            events.append(Activity(text=str(NO_CONVERSATION_ID)))
        events.append(RunFinished())
        return events

    async def _stream_events(self, response: httpx.Response, turn: Turn) -> AsyncIterator[ReplyEvent]:
        # Where the platform names no id for a turn that sent one, the thread
        # sent is assumed to go on.
        known = response.headers.get("x-conversation-id", "").strip()
        if known:
            yield RunStarted(conversation_id=known)
        started = bool(known)
        async for sse in iter_sse(response):
            for data in frames_of(sse.data):
                if data == DONE:
                    if not started:
                        yield RunStarted(conversation_id=turn.upstream_conversation_id)
                    if not known and not turn.upstream_conversation_id:
                        yield Activity(text=str(NO_CONVERSATION_ID))
                    yield RunFinished()
                    return
                frame = parse_json_object(data)
                if frame is None:
                    raise UpstreamError(
                        _("%(platform)s sent an event that is not valid JSON; the reply was cut off there.")
                        % {"platform": LABEL}
                    )
                if frame.get("error"):
                    error = platform_error(None, frame["error"], slug=self.slug)
                    raise error or UpstreamError(
                        _("%(platform)s reported an error while answering.") % {"platform": LABEL}
                    )
                conversation_id = as_text(frame.get("conversationId")).strip()
                if conversation_id and conversation_id != known:
                    known = conversation_id
                    started = True
                    yield RunStarted(conversation_id=conversation_id)
                chunk = as_text(frame.get("chunk"))
                if chunk:
                    if not started:
                        started = True
                        yield RunStarted(conversation_id=turn.upstream_conversation_id)
                    yield TextDelta(text=chunk)
                # Frames with neither a chunk, an id nor an error carry nothing
                # to show and are dropped.
        raise UpstreamError(
            _("%(platform)s closed the stream before the reply finished; the reply is incomplete.")
            % {"platform": LABEL}
        )

    async def check_connection(self) -> str:
        """Send an empty message, which the platform refuses without starting a conversation.

        Nothing public says in which order the platform checks a request
        [guess]: the key first (401), then the slug (404), then the body (400),
        so a 400 means the key and the agent were both accepted.
        """
        url = self.chat_url(self.slug)
        with transport_errors(LABEL):
            response = await capped_request(
                "POST",
                url,
                platform=LABEL,
                client=self.client,
                json={"message": "", "stream": False, "conversationId": None},
                headers={**self.headers(), "Accept": "application/json"},
                timeout=upstream_timeout(read=30),
            )
        status = response.status_code
        body = parse_json_object(response.text) or {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        name = ERROR_KINDS.get(as_text(error.get("name")))
        if status == 404 and name == 404 and self.agent is None:
            return _("Connected to %(platform)s: the key was accepted.") % {"platform": LABEL}
        if (status == 200 and isinstance(body.get("data"), dict)) or (status == 400 and name == 400):
            if self.agent is None:
                return _("Connected to %(platform)s: the key was accepted.") % {"platform": LABEL}
            return _("Connected to %(platform)s: the key was accepted and the agent “%(agent)s” answers.") % {
                "platform": LABEL,
                "agent": self.slug,
            }
        raise response_error(response, self.slug)
