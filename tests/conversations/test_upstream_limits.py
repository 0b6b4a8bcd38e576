"""A hostile or broken platform cannot make the site hold an endless reply, body or stream."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent, Credential
from conversations.models import Conversation, Message
from tests.conversations.test_large_frames import Browser
from tests.fakes import ServedApp

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


class HostileSketricGen:
    """Answers `run-workflow` as `mode` says, and records how much it sent before the site hung up.

    Every loop is bounded (by `count`), and stops when the client disconnects.
    """

    def __init__(self) -> None:
        self.mode = "flood"
        self.count = 200
        self.interval = 0.0
        self.sent = 0
        self.disconnected = threading.Event()  # set in the server's thread, read in the test's

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.sent = 0
        watcher = asyncio.create_task(self.watch_disconnect(receive))
        try:
            await getattr(self, self.mode)(send)
        finally:
            watcher.cancel()

    async def watch_disconnect(self, receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.disconnected.set()

    async def start(self, send, status: int = 200, content_type: bytes = b"text/event-stream") -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]}
        )

    async def body(self, send, chunk: bytes) -> bool:
        """Send one chunk; False once the site has hung up."""
        if self.disconnected.is_set():
            return False
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        self.sent += 1
        await asyncio.sleep(self.interval)
        return True

    async def stream_of(self, send, chunks) -> None:
        await self.start(send)
        await self.body(send, sse({"type": "RUN_STARTED", "thread_id": "t1", "run_id": "r1"}))
        for chunk in chunks:
            if not await self.body(send, chunk):
                return
        await send({"type": "http.response.body", "body": sse({"type": "RUN_FINISHED"})})

    async def flood(self, send) -> None:
        """`count` text events of just under 1 MiB each (the most one event may be)."""
        delta = sse({"type": "TEXT_MESSAGE_CONTENT", "delta": "x" * 1_000_000})
        await self.stream_of(send, (delta for _ in range(self.count)))

    async def heartbeats(self, send) -> None:
        """Some text, then only SSE comments."""
        hello = sse({"type": "TEXT_MESSAGE_CONTENT", "delta": "Hello"})
        await self.stream_of(send, (hello if i == 0 else b": ping\n\n" for i in range(self.count)))

    async def trickle(self, send) -> None:
        """A word at a time, for ever (`count` words)."""
        word = sse({"type": "TEXT_MESSAGE_CONTENT", "delta": "word "})
        await self.stream_of(send, (word for _ in range(self.count)))

    async def huge_json(self, send) -> None:
        """A JSON reply of `count` MiB."""
        await self.start(send, content_type=b"application/json")
        await self.body(send, b'{"response": "')
        for _ in range(self.count):
            if not await self.body(send, b"y" * MIB):
                return
        await send({"type": "http.response.body", "body": b'"}'})

    async def huge_error(self, send) -> None:
        """HTTP 500 with a body of `count` MiB."""
        await self.start(send, status=500, content_type=b"text/plain")
        for _ in range(self.count):
            if not await self.body(send, b"z" * MIB):
                return
        await send({"type": "http.response.body", "body": b""})


def sse(payload: dict) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


@pytest.fixture
def hostile():
    app = HostileSketricGen()
    with ServedApp(app) as served:
        app.url = served.url
        yield app


@pytest.fixture
def hostile_conversation(alice, hostile):
    credential = Credential(platform="sketricgen", name="Hostile", base_url=hostile.url)
    credential.set_api_key("demo-key")
    credential.save()
    agent = Agent.objects.create(
        name="Hostile", slug="hostile", credential=credential, upstream_agent_id="a1"
    )
    return Conversation.objects.create(owner=alice, agent=agent)


@sync_to_async
def saved_reply(conversation: Conversation) -> Message:
    return conversation.messages.get(role=Message.Role.ASSISTANT)


async def reply_to(alice, conversation, connect, seconds: float = 30) -> dict:
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "hello"})
    ended = (await asyncio.wait_for(Browser(ws).frames_until("reply.ended"), seconds))[-1]
    await ws.disconnect()
    return ended


async def test_a_flood_of_large_events_is_cut_at_the_reply_cap(alice, hostile_conversation, connect, hostile):
    ended = await reply_to(alice, hostile_conversation, connect)

    assert ended["status"] == "error"
    assert "too long (over 2,000,000 characters)" in ended["error"]
    reply = await saved_reply(hostile_conversation)
    assert (reply.status, len(reply.content)) == ("error", 2_000_000)
    assert await asyncio.to_thread(hostile.disconnected.wait, 5)
    assert hostile.sent < 20  # the site hung up instead of reading all 200 MB


async def test_heartbeats_do_not_keep_a_reply_open(alice, hostile_conversation, connect, hostile, settings):
    settings.UPSTREAM_IDLE_SECONDS = 1
    hostile.mode, hostile.count, hostile.interval = "heartbeats", 600, 0.1

    ended = await reply_to(alice, hostile_conversation, connect, seconds=10)

    assert ended["status"] == "error"
    assert "sent nothing for 1 seconds" in ended["error"]
    reply = await saved_reply(hostile_conversation)
    assert (reply.status, reply.content) == ("error", "Hello")
    assert await asyncio.to_thread(hostile.disconnected.wait, 5)


async def test_a_reply_that_never_ends_is_cut_at_its_duration(
    alice, hostile_conversation, connect, hostile, settings
):
    settings.UPSTREAM_MAX_REPLY_SECONDS = 1.5
    hostile.mode, hostile.count, hostile.interval = "trickle", 600, 0.1

    ended = await reply_to(alice, hostile_conversation, connect, seconds=10)

    assert ended["status"] == "error"
    assert "took longer than 1.5 seconds" in ended["error"]
    reply = await saved_reply(hostile_conversation)
    assert reply.status == "error"
    assert reply.content.startswith("word word ")
    assert await asyncio.to_thread(hostile.disconnected.wait, 5)


async def test_a_huge_json_reply_is_refused_unread(alice, hostile_conversation, connect, hostile, settings):
    settings.UPSTREAM_MAX_JSON_BYTES = 4 * MIB
    await sync_to_async(Agent.objects.filter(slug="hostile").update)(options={"stream": False})
    hostile.mode, hostile.count = "huge_json", 2000

    ended = await reply_to(alice, hostile_conversation, connect)

    assert ended["status"] == "error"
    assert "larger than 4,096 KiB; it was not read" in ended["error"]
    assert await asyncio.to_thread(hostile.disconnected.wait, 5)
    assert hostile.sent < 50


async def test_a_huge_error_body_is_read_only_in_part(alice, hostile_conversation, connect, hostile):
    hostile.mode, hostile.count = "huge_error", 2000

    ended = await reply_to(alice, hostile_conversation, connect)

    assert ended["status"] == "error"
    assert "server error (HTTP 500)" in ended["error"]
    said = ended["error"].split("The platform said: ", 1)[1]
    assert said == "z" * 300
    assert await asyncio.to_thread(hostile.disconnected.wait, 5)
    assert hostile.sent < 50
