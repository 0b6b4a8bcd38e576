"""Request bodies capped before they are buffered.

`BodyLimitMiddleware` sits in front of Django's HTTP app: a request whose
`Content-Length` is over its route's limit gets a 413 before any of its body
is read, and a body without a length (chunked) is counted as it arrives and
refused once past the limit. Only the upload route takes upload-sized bodies,
and only from a signed-in session: anyone else is held to the small limit.

Daphne has buffered the whole body before the application runs; what guards
that step is `chatsite.daphne_limits` (one process) and the proxy
(`deploy/nginx.conf`).
"""

import re
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

UPLOAD_PATH = re.compile(r"^/c/[^/]+/attachments/$")


class BodyTooLarge(Exception):
    """A request body went past its route's limit while it was being read."""


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


def declared_length(scope: Scope) -> int | None:
    """The request's `Content-Length`, or None when it has none (chunked) or it is not a number."""
    value = header(scope, b"content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def session_key(cookie_header: bytes | None) -> str | None:
    """The session id the request's cookies carry, if any."""
    if not cookie_header:
        return None
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header.decode("latin-1"))
    except CookieError:
        return None
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel is not None and morsel.value else None


def is_upload(method: str, path: str) -> bool:
    return method == "POST" and UPLOAD_PATH.match(path) is not None


def signed_in_session(key: str) -> bool:
    """The session exists and belongs to a signed-in user (one database read)."""
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    return "_auth_user_id" in store.load()


async def body_limit(scope: Scope) -> int:
    """The most bytes of body this request may send.

    Upload-sized bodies go only to the upload route and only from a signed-in
    session; the session is looked up only for requests that ask for more than
    the small limit, so anonymous floods cost no database read.
    """
    small = settings.BODY_LIMIT
    if not is_upload(scope["method"], scope["path"]):
        return small
    length = declared_length(scope)
    if length is not None and length <= small:
        return small
    key = session_key(header(scope, b"cookie"))
    if key is None or not await sync_to_async(signed_in_session)(key):
        return small
    return settings.UPLOAD_BODY_LIMIT


async def send_too_large(send: Send, limit: int) -> None:
    body = f"Request body too large: at most {limit} bytes here.\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """ASGI middleware refusing, with 413, request bodies over their route's limit (see module doc)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = await body_limit(scope)
        length = declared_length(scope)
        if length is not None and length > limit:
            await send_too_large(send, limit)
            return
        received = 0
        response_started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if response_started:
                raise
            await send_too_large(send, limit)
