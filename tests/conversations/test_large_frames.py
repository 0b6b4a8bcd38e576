"""No frame over the websocket message limit: large ones arrive in pieces, and a lost one is never silent."""

import asyncio
import json
import logging

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent, Credential
from conversations.models import Conversation, Message
from conversations.protocol import RESYNC
from conversations.relay import Hub, outbox
from tests.fakes import ServedApp, verbatim_app

pytestmark = pytest.mark.django_db(transaction=True)

DAPHNE_MESSAGE_LIMIT = 1024 * 1024
PARAGRAPH = "Grüße “quoted” \\ back\\slash <b>not bold</b> 😀 and some *Markdown* text. " * 40 + "\n\n"


def long_reply_wire(chars: int) -> tuple[bytes, str]:
    """An SSE reply in SketricGen's format of `chars` characters sent in six large deltas, and its text."""
    text = (PARAGRAPH * (chars // len(PARAGRAPH) + 1))[:chars]
    size = -(-chars // 6)
    events = [{"type": "RUN_STARTED", "thread_id": "t1", "run_id": "r1"}]
    events += [{"type": "TEXT_MESSAGE_CONTENT", "delta": text[i : i + size]} for i in range(0, chars, size)]
    events.append({"type": "RUN_FINISHED"})
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events), text


class Browser:
    """What static/chatsite/socket.js does with the messages of one socket: join pieces into frames."""

    def __init__(self, communicator) -> None:
        self.communicator = communicator
        self.largest_message = 0
        self.pieces: dict[int, dict[int, str]] = {}

    async def frame(self) -> dict:
        while True:
            message = await self.communicator.receive_from(timeout=20)
            self.largest_message = max(self.largest_message, len(message.encode()))
            frame = json.loads(message)
            if frame["type"] != "frame.piece":
                return frame
            parts = self.pieces.setdefault(frame["id"], {})
            parts[frame["index"]] = frame["data"]
            if len(parts) == frame["count"]:
                del self.pieces[frame["id"]]
                return json.loads("".join(parts[i] for i in range(frame["count"])))

    async def frames_until(self, frame_type: str) -> list[dict]:
        frames = [await self.frame()]
        while frames[-1]["type"] != frame_type:
            frames.append(await self.frame())
        return frames


async def test_a_600k_character_reply_reaches_the_socket_complete_in_messages_under_the_limit(alice, connect):
    wire, text = long_reply_wire(600_000)
    with ServedApp(verbatim_app(wire)) as served:

        def setup() -> Conversation:
            credential = Credential(platform="sketricgen", name="Long", base_url=served.url)
            credential.set_api_key("demo-key")
            credential.save()
            agent = Agent.objects.create(
                name="Long", slug="long", credential=credential, upstream_agent_id="a1"
            )
            return Conversation.objects.create(owner=alice, agent=agent)

        conversation = await sync_to_async(setup)()
        _, ws = await connect(alice, conversation.id)
        browser = Browser(ws)
        await ws.send_json_to({"type": "send", "text": "Tell me everything"})
        frames = await browser.frames_until("reply.ended")

    ended = frames[-1]
    assert ended["status"] == "complete"
    assert ended["text"] == text
    assert ended["html"].count("<p>") >= 600_000 // len(PARAGRAPH)
    assert "".join(f["text"] for f in frames if f["type"] == "text_delta") == text
    assert len(json.dumps(ended, ensure_ascii=False).encode()) > DAPHNE_MESSAGE_LIMIT
    saved = await sync_to_async(Message.objects.get)(pk=ended["message_id"])
    assert saved.content == text

    await ws.send_json_to({"type": "resume", "message_id": ended["message_id"], "after_seq": 0})
    resumed = await browser.frame()
    assert (resumed["type"], resumed["text"], resumed["html"]) == ("reply.ended", text, ended["html"])
    assert 0 < browser.largest_message <= DAPHNE_MESSAGE_LIMIT // 2
    await ws.disconnect()


async def test_a_frame_that_cannot_be_sent_is_logged_and_the_socket_told_to_resync(caplog):
    hub, received = Hub(), []

    async def refuses_the_first_frame(text: str) -> None:
        if not received:
            received.append(None)
            raise ValueError("message too big")
        received.append(text)

    hub.watchers["c1"] = {refuses_the_first_frame}
    with caplog.at_level(logging.WARNING, logger="conversations.relay"):
        await hub.broadcast("c1", '{"type":"reply.ended"}')

    assert received == [None, RESYNC]
    assert "was not sent" in caplog.text
    assert hub.watchers["c1"] == {refuses_the_first_frame}


async def test_a_socket_that_cannot_be_told_stops_watching_with_a_log_line(caplog):
    hub = Hub()

    async def closed(text: str) -> None:
        raise ConnectionError("closed")

    hub.watchers["c1"] = {closed}
    with caplog.at_level(logging.WARNING, logger="conversations.relay"):
        await hub.broadcast("c1", '{"type":"text_delta"}')

    assert "c1" not in hub.watchers
    assert "stops watching" in caplog.text


async def test_a_socket_in_another_process_that_missed_frames_is_told_to_resync(caplog):
    from channels.layers import get_channel_layer

    from conversations.relay import ReplyRun

    hub, layer = Hub(), get_channel_layer()
    channel = await layer.new_channel("socket.")
    run = ReplyRun(message_id=1, conversation_id="c1", hub=hub, remote_watchers={channel})
    run.outbox = ['{"type":"reply.ended"}']
    send = layer.send
    refused = []

    async def refuses_the_first_batch(to: str, message: dict) -> None:
        if not refused:
            refused.append(message)
            raise ValueError("channel full")
        await send(to, message)

    layer.send = refuses_the_first_batch
    try:
        with caplog.at_level(logging.WARNING, logger="conversations.relay"):
            await outbox.flush(run)
    finally:
        del layer.send

    assert "were not sent" in caplog.text
    assert (await asyncio.wait_for(layer.receive(channel), 2))["frames"] == [RESYNC]
    assert run.remote_watchers == set()
