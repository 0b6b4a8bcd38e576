"""A websocket's handshake cookies give its consumer the session and the signed-in user."""

import pytest

from chatsite.socket_sessions import socket_auth_stack
from tests.conversations.conftest import session_cookie_async

pytestmark = pytest.mark.django_db(transaction=True)


async def scope_seen_by_the_consumer(headers: list[tuple[bytes, bytes]]) -> tuple[dict, dict]:
    """(the scope the consumer gets, the server's scope afterwards)."""
    seen: dict = {}

    async def consumer(scope, receive, send):
        seen.update(scope)

    server_scope = {"type": "websocket", "path": "/ws/conversations/x/", "headers": headers}
    await socket_auth_stack(consumer)(server_scope, None, None)
    return seen, server_scope


async def test_a_signed_in_socket_sees_its_user_its_session_and_its_cookies(alice):
    cookie = await session_cookie_async(alice)

    seen, server_scope = await scope_seen_by_the_consumer(
        [(b"cookie", f"sessionid={cookie}; theme=dark".encode())]
    )

    assert seen["user"].pk == alice.pk
    assert seen["session"].session_key == cookie
    assert seen["cookies"] == {"sessionid": cookie, "theme": "dark"}
    assert set(server_scope) == {"type", "path", "headers"}  # the server's own scope is left as it was


async def test_a_socket_without_a_session_is_anonymous():
    seen, _ = await scope_seen_by_the_consumer([(b"origin", b"http://127.0.0.1:8000")])

    assert not seen["user"].is_authenticated
    assert seen["cookies"] == {}
    assert seen["session"].session_key is None


async def test_a_socket_with_a_session_that_ended_is_anonymous(alice):
    seen, _ = await scope_seen_by_the_consumer([(b"cookie", b"sessionid=no-such-session")])

    assert not seen["user"].is_authenticated
