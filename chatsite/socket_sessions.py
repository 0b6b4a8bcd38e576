"""The session and user of a websocket: Channels' auth stack in one step, without its `send` wrapper."""

from importlib import import_module
from typing import Any

from channels.auth import UserLazyObject, get_user
from django.conf import settings
from django.http.cookie import parse_cookie
from django.utils.functional import LazyObject


def request_cookies(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The cookies of a websocket's handshake, as Django's `request.COOKIES` has them."""
    for name, value in headers:
        if name == b"cookie":
            return parse_cookie(value.decode("latin1"))
    return {}


class SocketAuthMiddleware:
    """Channels' `AuthMiddlewareStack` for websockets: sets `cookies`, `session` and `user` as it does.

    In one step: Channels' three middlewares each copied the scope (five copies
    in all) and each copy stayed referenced by a coroutine waiting for as long
    as the socket was open. Channels' session middleware also wrapped `send` to
    save a changed session with an HTTP response, which a websocket never sends;
    the wrapper looked into the session at every message, a cost paid for each
    relayed delta on every socket.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        scope = dict(scope, cookies=request_cookies(scope["headers"]))
        session = LazyObject()
        store = import_module(settings.SESSION_ENGINE).SessionStore
        session._wrapped = store(scope["cookies"].get(settings.SESSION_COOKIE_NAME))
        scope["session"] = session
        user = UserLazyObject()
        user._wrapped = await get_user(scope)
        scope["user"] = user
        return await self.inner(scope, receive, send)


def socket_auth_stack(inner: Any) -> Any:
    """The websocket's cookies, session and user, then `inner`."""
    return SocketAuthMiddleware(inner)
