"""The relay's background tasks survive what goes wrong, and say so in the log."""

import asyncio
import logging

import pytest
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from conversations.relay import Hub, ReplyRun, fanout

# Transactional like the other websocket test modules: without it, run after the browser
# tests, pytest-asyncio found an event loop already running in this thread and refused.
pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_listener_survives_a_layer_error_and_answers_on_the_same_channel(monkeypatch, caplog):
    monkeypatch.setattr(fanout, "LISTEN_RETRY_SECONDS", 0.01)
    hub, layer = Hub(), get_channel_layer()
    hub.runs[1] = ReplyRun(message_id=1, conversation_id="c1", hub=hub)
    receive, failed = layer.receive, []

    async def fails_once(channel: str) -> dict:
        if channel.startswith("relay.") and not failed:
            failed.append(channel)
            raise ChannelFull(channel)
        return await receive(channel)

    monkeypatch.setattr(layer, "receive", fails_once)
    monkeypatch.setattr(fanout, "listening_layer", lambda: layer)
    with caplog.at_level(logging.ERROR, logger="conversations.relay"):
        channel = await hub.ensure_channel()
        await asyncio.sleep(0.05)
        socket = await layer.new_channel("socket.")
        watch = {"type": "relay.watch", "conversation_id": "c1", "message_id": 1, "reply_to": socket}
        await layer.send(channel, watch)
        answer = await asyncio.wait_for(receive(socket), timeout=2)

    assert failed == [channel] and hub.channel_name == channel
    assert answer["type"] == "relay.frames" and '"type":"reply.snapshot"' in answer["frames"][0]
    assert "listens again" in caplog.text
    hub._listener.cancel()


async def test_a_background_task_that_fails_leaves_a_log_line(caplog):
    async def broken() -> None:
        raise RuntimeError("broken on purpose")

    with caplog.at_level(logging.ERROR, logger="conversations.relay"):
        task = fanout.background(broken(), "relay-test")
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)

    assert "relay-test failed" in caplog.text
    assert "broken on purpose" in caplog.text
