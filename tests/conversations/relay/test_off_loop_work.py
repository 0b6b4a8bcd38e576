"""CPU-heavy steps of a reply run where they do not hold up the event loop every reply shares.

How long each held the loop before and after is measured by `bench/relay.py --loop-stall`.
"""

import asyncio
import base64
import json

import pytest

from agents.providers import workflow_chat
from conversations import reply_parts
from tests.conversations.sockets import frames_until, text_of

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_finished_reply_is_rendered_whole_outside_the_event_loop(
    alice, conversation, connect, sketricgen, monkeypatch
):
    rendered_on_a_loop = []
    render = reply_parts.render_markdown

    def recording_render(text: str) -> str:
        try:
            asyncio.get_running_loop()
            rendered_on_a_loop.append(text)
        except RuntimeError:
            pass
        return render(text)

    monkeypatch.setattr(reply_parts, "render_markdown", recording_render)
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "Hello there", "client_id": "c1"})
    frames = await frames_until(ws, "reply.ended")
    await ws.disconnect()

    ended = frames[-1]
    assert ended["status"] == "complete"
    assert ended["html"] == render(text_of(frames))
    assert rendered_on_a_loop == []


async def test_an_image_is_encoded_a_slice_at_a_time_letting_the_event_loop_in(monkeypatch):
    image = bytes(range(256)) * (3 * workflow_chat.ENCODE_SLICE_BYTES // 256 + 1)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    running = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    url = await workflow_chat.data_url("image/png", image)
    during = ticks - before
    running.cancel()

    assert url == b"data:image/png;base64," + base64.b64encode(image)
    assert during >= 3
    fields = {"message": "what is on it?", "conversationId": "c"}
    assert json.loads(workflow_chat.json_body(fields, [url])) == {
        **fields,
        "images": [{"base64": url.decode()}],
    }
