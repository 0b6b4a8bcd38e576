"""Request bodies over their route's limit are refused with 413 before they are read."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chatsite.asgi import application
from tests.conversations.conftest import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

KB = 1024


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.BODY_LIMIT = 64 * KB
    settings.UPLOAD_BODY_LIMIT = 512 * KB


class Request:
    """One HTTP request through the whole ASGI app; `.read` counts the body messages the app asked for."""

    def __init__(self, path: str, chunks: list[bytes], length: int | None, cookie: str = ""):
        headers = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/octet-stream")]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        if cookie:
            headers.append((b"cookie", f"sessionid={cookie}".encode()))
        self.scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "scheme": "https",  # the site redirects plain HTTP
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 5000),
            "root_path": "",
            "http_version": "1.1",
        }
        self.chunks = chunks
        self.read = 0
        self.status: int | None = None
        self.body = b""

    async def receive(self) -> dict:
        if self.read >= len(self.chunks):
            await asyncio.sleep(60)  # a client waiting for its answer
            return {"type": "http.disconnect"}
        self.read += 1
        return {
            "type": "http.request",
            "body": self.chunks[self.read - 1],
            "more_body": self.read < len(self.chunks),
        }

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        else:
            self.body += message.get("body", b"")

    async def run(self) -> "Request":
        await application(self.scope, self.receive, self.send)
        return self


def pieces(total: int, size: int = 16 * KB) -> list[bytes]:
    return [b"x" * size for _ in range(total // size)]


async def test_a_declared_length_over_the_limit_is_refused_before_any_body_is_read(db):
    request = await Request("/accounts/login/", pieces(1024 * KB), length=1024 * KB).run()
    assert request.status == 413
    assert request.read == 0
    assert b"too large" in request.body


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(db):
    request = await Request("/accounts/login/", pieces(1024 * KB), length=None).run()
    assert request.status == 413
    assert request.read == 5  # 64 KiB allowed: the fifth 16 KiB piece passes it


async def test_a_small_body_reaches_the_site(db):
    request = await Request("/accounts/login/", pieces(32 * KB), length=32 * KB).run()
    assert request.status == 403  # Django's CSRF refusal: the view saw the request


async def test_an_anonymous_upload_sized_body_is_refused_unread(conversation):
    path = f"/c/{conversation.id}/attachments/"
    request = await Request(path, pieces(256 * KB), length=256 * KB).run()
    assert (request.status, request.read) == (413, 0)


async def test_a_made_up_session_cookie_gets_only_the_small_limit(conversation):
    path = f"/c/{conversation.id}/attachments/"
    request = await Request(path, pieces(256 * KB), length=256 * KB, cookie="madeup" * 6).run()
    assert (request.status, request.read) == (413, 0)


async def test_a_signed_in_upload_may_be_upload_sized_but_no_larger(alice, conversation):
    path = f"/c/{conversation.id}/attachments/"
    cookie = await sync_to_async(session_cookie)(alice)
    taken = await Request(path, pieces(256 * KB), length=256 * KB, cookie=cookie).run()
    assert taken.status != 413
    assert taken.read == 16
    refused = await Request(path, pieces(1024 * KB), length=1024 * KB, cookie=cookie).run()
    assert (refused.status, refused.read) == (413, 0)
    streamed = await Request(path, pieces(1024 * KB), length=None, cookie=cookie).run()
    assert streamed.status == 413
    assert streamed.read == 33


async def test_upload_sized_bodies_go_only_to_the_upload_route(alice, conversation):
    cookie = await sync_to_async(session_cookie)(alice)
    request = await Request(f"/c/{conversation.id}/rename/", pieces(256 * KB), 256 * KB, cookie=cookie).run()
    assert (request.status, request.read) == (413, 0)
