"""The session of a websocket, without Channels' wrapper around every message the socket sends."""

from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware


class SocketSessionMiddleware(SessionMiddleware):
    """Channels' `SessionMiddleware`, handing the inner application the server's own `send`.

    Channels wraps `send` to save a changed session with an HTTP response, which a
    websocket never sends; the wrapper still looked into the session at every
    message, a cost paid for each relayed delta on every socket.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def socket_auth_stack(inner: Any) -> Any:
    """Channels' `AuthMiddlewareStack` for websockets: cookies, the session, then the user."""
    return CookieMiddleware(SocketSessionMiddleware(AuthMiddleware(inner)))
