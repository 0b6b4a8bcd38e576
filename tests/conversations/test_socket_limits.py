"""Each user may hold SOCKETS_PER_USER websockets open at once; the rest are refused with a clear frame."""

import asyncio
import json

import pytest

from conversations.models import ShareLink
from conversations.socket_limits import open_sockets
from tests.conversations.sockets import watching

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def two_sockets_each(settings):
    settings.SOCKETS_PER_USER = 2


async def refused_with_socket_limit(ws) -> None:
    refusal = json.loads(await ws.receive_from())
    assert refusal["code"] == "SOCKET_LIMIT"
    assert "Too many chat pages" in refusal["message"]
    assert await ws.receive_output() == {"type": "websocket.close", "code": 4429}


async def test_a_socket_past_the_cap_is_refused_with_a_clear_frame_and_close_code(
    alice, conversation, connect
):
    for _ in range(2):
        connected, _ = await connect(alice, conversation.id)
        assert connected
    _, third = await connect(alice, conversation.id)
    await refused_with_socket_limit(third)


async def test_a_refused_socket_acts_on_nothing(alice, conversation, connect):
    await connect(alice, conversation.id)
    await connect(alice, conversation.id)
    _, third = await connect(alice, conversation.id)
    await refused_with_socket_limit(third)
    await third.send_json_to({"type": "send", "text": "hello"})
    assert await third.receive_nothing(timeout=0.3)


async def test_the_cap_is_per_user(alice, bob, conversation, connect, make_user):
    from asgiref.sync import sync_to_async

    from conversations.models import Conversation

    await connect(alice, conversation.id)
    await connect(alice, conversation.id)
    bobs = await sync_to_async(Conversation.objects.create)(owner=bob, agent=conversation.agent)
    connected, _ = await connect(bob, bobs.id)
    assert connected


async def test_closing_a_socket_frees_its_place(alice, conversation, connect):
    _, first = await connect(alice, conversation.id)
    await connect(alice, conversation.id)
    await first.disconnect()
    _, again = await connect(alice, conversation.id)
    assert await again.receive_nothing(timeout=0.2)


async def test_a_socket_that_drops_or_whose_consumer_is_cancelled_frees_its_place(
    alice, conversation, connect
):
    _, dropped = await connect(alice, conversation.id)
    _, killed = await connect(alice, conversation.id)
    await dropped.send_input({"type": "websocket.disconnect", "code": 1006})
    killed.future.cancel()
    await asyncio.sleep(0.1)
    assert open_sockets.by_user[alice.pk] == 0
    _, third = await connect(alice, conversation.id)
    assert await third.receive_nothing(timeout=0.2)


async def test_live_share_viewers_count_against_the_same_cap(alice, bob, conversation, connect):
    from asgiref.sync import sync_to_async

    link = await sync_to_async(ShareLink.objects.create)(
        conversation=conversation, created_by=alice, access=ShareLink.Access.MEMBERS, live=True
    )
    path = f"/ws/share/{link.token}/"
    for _ in range(2):
        connected, _ = await connect(bob, path=path)
        assert connected
    _, third = await connect(bob, path=path)
    await refused_with_socket_limit(third)


async def test_a_socket_that_drops_leaves_nothing_watching_in_the_hub(alice, conversation, connect):
    from conversations.relay.fanout import hub

    _, ws = await connect(alice, conversation.id)
    assert await watching(conversation.id)
    await ws.send_input({"type": "websocket.disconnect", "code": 1006})
    await asyncio.sleep(0.1)
    assert conversation.id not in hub.watchers
