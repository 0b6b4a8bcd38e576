"""The chat websocket's protocol (docs/websocket.md): every frame the server sends, every request it accepts.

Frames are built only here. Each builder returns the frame's wire text (compact
JSON); `tests/conversations/test_protocol.py` checks that docs/websocket.md
lists exactly the frame types, request types and refusal codes defined here.
"""

import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from agents.providers.events import ReplyEvent
from conversations.rendering import render_markdown

SendFrame = Callable[[str], Awaitable[None]]

# Daphne refuses websocket messages over 1 MiB. A frame longer than this many
# characters (at most 4 bytes each in UTF-8) goes out in pieces of this size.
PIECE_CHARS = 64 * 1024


class FrameType(StrEnum):
    """The `type` of a frame from the server to the browser."""

    USER_MESSAGE = "user_message"
    REPLY_STARTED = "reply.started"
    TEXT_DELTA = "text_delta"
    TEXT_REPLACE = "text_replace"
    TEXT_LIVE = "text_live"
    TOOL_STARTED = "tool_started"
    TOOL_FINISHED = "tool_finished"
    ACTIVITY = "activity"
    APPROVAL_REQUESTED = "approval_requested"
    RETRYING = "retrying"
    REPLY_SNAPSHOT = "reply.snapshot"
    REPLY_ENDED = "reply.ended"
    ERROR = "error"
    FRAME_PIECE = "frame.piece"
    RESYNC = "resync"
    VERSION_CHOSEN = "version.chosen"


class RequestType(StrEnum):
    """The `type` of a frame from the browser to the server."""

    SEND = "send"
    STOP = "stop"
    RETRY = "retry"
    REGENERATE = "regenerate"
    EDIT = "edit"
    DECIDE = "decide"
    RESUME = "resume"


class RefusalCode(StrEnum):
    """The `code` of an `error` frame: why a request was refused."""

    BAD_FRAME = "BAD_FRAME"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    BUSY = "BUSY"
    AGENT_UNAVAILABLE = "AGENT_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    MESSAGE_LIMIT = "MESSAGE_LIMIT"
    REPLY_LIMIT = "REPLY_LIMIT"
    READ_ONLY = "READ_ONLY"
    SIGNED_OUT = "SIGNED_OUT"
    SOCKET_LIMIT = "SOCKET_LIMIT"
    APPROVAL_CLOSED = "APPROVAL_CLOSED"
    RESTARTING = "RESTARTING"


class ReplyErrorCode(StrEnum):
    """The `error_code` of a `reply.ended` frame: an ending the site decided, worded by the browser."""

    CUT_OFF = "CUT_OFF"


# The English words of each code: what the reply's `error` saves and the frame's `error` carries. A page
# shows them in the reader's language (the browser's catalog has them too).
REPLY_ERRORS = {ReplyErrorCode.CUT_OFF: gettext_noop("The reply was cut off when the site restarted.")}


def reply_error_code(error: str) -> str:
    """The code of a saved reply error the site wrote itself; "" for any other (a platform's words)."""
    return next((str(code) for code, words in REPLY_ERRORS.items() if words == error), "")


class Refused(Exception):
    """A request the server will not honour; the browser gets an `error` frame and nothing was saved."""

    def __init__(self, code: RefusalCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = str(message)


# One encoder for every frame: `json.dumps` with options builds a new encoder at each call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(payload: dict[str, Any]) -> str:
    return _ENCODER.encode(payload)


# Server to browser.


def user_message(
    *,
    message_id: int,
    role: str,
    text: str,
    status: str,
    attachments: list[dict[str, Any]],
    client_id: str,
    replaces: int | None = None,
    versions: dict[str, Any] | None = None,
    title: str | None = None,
) -> str:
    payload: dict[str, Any] = {
        "type": FrameType.USER_MESSAGE,
        "client_id": client_id,
        "message": {
            "id": message_id,
            "role": role,
            "text": text,
            "html": render_markdown(text),
            "status": status,
            "attachments": attachments,
        },
    }
    if replaces is not None:
        payload["replaces"] = replaces
    if versions is not None:
        payload["message"]["versions"] = versions
    if title is not None:
        payload["title"] = title
    return encode(payload)


def is_user_message(text: str) -> bool:
    """Whether wire text `text` is a `user_message` frame (the one frame that names files)."""
    return text.startswith('{"type":"user_message"')


def reply_started(*, message_id: int, replaces: int | None, versions: dict[str, Any] | None = None) -> str:
    payload = {"type": FrameType.REPLY_STARTED, "message_id": message_id, "seq": 0, "replaces": replaces}
    if versions is not None:
        payload["versions"] = versions
    return encode(payload)


def text_delta(
    *, message_id: int, seq: int, text: str, commit: tuple[str, str] | None, live: str | None = None
) -> str:
    """More text; `commit` the blocks it finished (html, open tail), `live` the open block rendered."""
    payload: dict[str, Any] = {
        "type": FrameType.TEXT_DELTA,
        "message_id": message_id,
        "seq": seq,
        "text": text,
    }
    if commit is not None:
        payload["commit"] = {"html": commit[0], "tail": commit[1]}
    if live is not None:
        payload["live"] = live
    return encode(payload)


def text_replace(*, message_id: int, seq: int, html: str, tail: str, live: str) -> str:
    return encode(
        {
            "type": FrameType.TEXT_REPLACE,
            "message_id": message_id,
            "seq": seq,
            "html": html,
            "tail": tail,
            "live": live,
        }
    )


def text_live(*, message_id: int, seq: int, html: str) -> str:
    """The open block rendered, for text that came while a render was not due."""
    return encode({"type": FrameType.TEXT_LIVE, "message_id": message_id, "seq": seq, "html": html})


def reply_event(event: ReplyEvent, *, message_id: int, seq: int) -> str:
    """A tool, activity, approval or retry event, with the fields the platform's adapter gave it."""
    payload = event.to_dict()
    kind = FrameType(payload.pop("kind"))
    return encode({"type": kind, **payload, "message_id": message_id, "seq": seq})


def reply_snapshot(
    *,
    message_id: int,
    seq: int,
    text: str,
    html: str,
    tail: str,
    live: str,
    tool_calls: list[dict[str, str]],
    approval: dict[str, Any],
    parts: list[dict[str, Any]] | None = None,
) -> str:
    """A running reply: `html` its current part's finished blocks; its open one as text (`tail`) and
    as HTML (`live`); `parts` the text and decisions before the current part (conversations.reply_parts).
    """
    return encode(
        {
            "type": FrameType.REPLY_SNAPSHOT,
            "message_id": message_id,
            "seq": seq,
            "status": "streaming",
            "text": text,
            "html": html,
            "tail": tail,
            "live": live,
            "tool_calls": tool_calls,
            "approval": approval,
            "parts": parts or [],
        }
    )


def reply_ended(
    *,
    message_id: int,
    seq: int,
    status: str,
    text: str,
    error: str,
    tool_calls: list[dict[str, str]],
    approval: dict[str, Any],
    usage: dict[str, int] | None = None,
    html: str | None = None,
    parts: list[dict[str, Any]] | None = None,
) -> str:
    """The end of a reply; `html` is the current part of `text` rendered, all of it rendered here when
    not given (a reply without `parts`)."""
    return encode(
        {
            "type": FrameType.REPLY_ENDED,
            "message_id": message_id,
            "seq": seq,
            "status": status,
            "text": text,
            "html": render_markdown(text) if html is None else html,
            "error": error,
            "error_code": reply_error_code(error),
            "tool_calls": tool_calls,
            "approval": approval,
            "parts": parts or [],
            "usage": usage or {},
            "usage_text": usage_text(usage or {}),
        }
    )


def usage_text(usage: dict[str, int]) -> str:
    """A reply's token usage in words ("" when the platform did not say)."""
    if not usage:
        return ""
    return _("%(input)s tokens in, %(output)s out") % {
        "input": number_format(usage.get("input_tokens", 0), force_grouping=True),
        "output": number_format(usage.get("output_tokens", 0), force_grouping=True),
    }


def error(code: RefusalCode, message: str, *, client_id: str | None = None) -> str:
    payload: dict[str, Any] = {"type": FrameType.ERROR, "code": code, "message": str(message)}
    if client_id is not None:
        payload["client_id"] = client_id
    return encode(payload)


def version_chosen(*, message_id: int, replaces: int) -> str:
    """Another version of a turn is chosen: `message_id` and the path after it replace `replaces`."""
    return encode({"type": FrameType.VERSION_CHOSEN, "message_id": message_id, "replaces": replaces})


_piece_ids = itertools.count(1)


def frame_pieces(text: str) -> list[str]:
    """The websocket messages that carry frame `text`: itself, or `frame.piece` frames under the limit.

    The browser joins the `data` of pieces 0 to `count - 1` of one `id` and reads the result as
    the frame (docs/websocket.md). Pieces of different frames may interleave; their ids tell them apart.
    """
    if len(text) <= PIECE_CHARS:
        return [text]
    piece_id = next(_piece_ids)
    count = -(-len(text) // PIECE_CHARS)
    return [
        encode(
            {
                "type": FrameType.FRAME_PIECE,
                "id": piece_id,
                "index": index,
                "count": count,
                "data": text[index * PIECE_CHARS : (index + 1) * PIECE_CHARS],
            }
        )
        for index in range(count)
    ]


RESYNC = encode({"type": FrameType.RESYNC})


# Browser to server.


@dataclass(frozen=True)
class Send:
    text: str
    client_id: str
    timezone: str
    attachments: list[str]


@dataclass(frozen=True)
class Stop:
    message_id: int | None


@dataclass(frozen=True)
class Retry:
    message_id: int
    regenerate: bool


@dataclass(frozen=True)
class Edit:
    message_id: int
    text: str
    client_id: str
    timezone: str


@dataclass(frozen=True)
class Decide:
    message_id: int
    decisions: Any


@dataclass(frozen=True)
class Resume:
    message_id: int
    # The last seq of the reply the socket has seen; -1 when it says none.
    after_seq: int


Request = Send | Stop | Retry | Edit | Decide | Resume


def client_id_of(payload: dict[str, Any]) -> str:
    return str(payload.get("client_id", ""))[:64]


def message_id_of(payload: dict[str, Any]) -> int | None:
    value = payload.get("message_id")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def parse_request(payload: dict[str, Any]) -> Request:
    """The request a browser frame (a JSON object) makes; `Refused` when it makes none."""
    kind = payload.get("type")
    message_id = message_id_of(payload)
    timezone = str(payload.get("timezone", ""))[:64]
    if kind == RequestType.SEND:
        text, attachments = payload.get("text"), payload.get("attachments", [])
        if not isinstance(text, str):
            raise Refused(RefusalCode.INVALID_INPUT, _("A message needs text."))
        if not isinstance(attachments, list) or not all(
            isinstance(item, str) and len(item) <= 26 for item in attachments
        ):
            raise Refused(RefusalCode.BAD_FRAME, _("attachments is a list of attachment ids."))
        return Send(text=text, client_id=client_id_of(payload), timezone=timezone, attachments=attachments)
    if kind == RequestType.STOP:
        return Stop(message_id=message_id)
    if kind == RequestType.DECIDE:
        if message_id is None:
            raise Refused(RefusalCode.BAD_FRAME, _("decide needs a message_id."))
        return Decide(message_id=message_id, decisions=payload.get("decisions"))
    if kind in (RequestType.RETRY, RequestType.REGENERATE):
        if message_id is None:
            raise Refused(RefusalCode.BAD_FRAME, _("%(type)s needs a message_id.") % {"type": kind})
        return Retry(message_id=message_id, regenerate=kind == RequestType.REGENERATE)
    if kind == RequestType.EDIT:
        text = payload.get("text")
        if message_id is None or not isinstance(text, str):
            raise Refused(RefusalCode.BAD_FRAME, _("edit needs a message_id and text."))
        return Edit(message_id=message_id, text=text, client_id=client_id_of(payload), timezone=timezone)
    if kind == RequestType.RESUME:
        if message_id is None:
            raise Refused(RefusalCode.NOT_FOUND, _("No such reply in this conversation."))
        after_seq = payload.get("after_seq")
        valid = isinstance(after_seq, int) and not isinstance(after_seq, bool) and after_seq >= 0
        return Resume(message_id=message_id, after_seq=after_seq if valid else -1)
    raise Refused(RefusalCode.UNKNOWN_TYPE, _("Unknown frame type."))
