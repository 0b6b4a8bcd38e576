"""A stopping process (SIGTERM, chatsite/shutdown.py): no new turn, its replies finish, its sockets close.

The signal, the grace period and the proxy: with real processes in tests/test_two_processes.py.
"""

import json

import pytest

from chatsite import shutdown
from conversations import consumers
from conversations.relay import fanout
from tests.conversations.sockets import frames_until, messages_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stopping(monkeypatch):
    """Stop this process's taking of turns, as SIGTERM does; undone after the test."""
    monkeypatch.setattr(fanout.hub, "taking_turns", True)
    return fanout.stop_taking_turns


async def test_a_stopping_process_refuses_a_new_message_saving_nothing_but_still_stops_a_running_reply(
    alice, conversation, connect, sketricgen, stopping
):
    _, socket = await connect(alice, conversation.id)
    await socket.send_json_to({"type": "send", "text": "endless [[fail:hang]]", "client_id": "c1"})
    await frames_until(socket, "text_delta")
    stopping()

    await socket.send_json_to({"type": "send", "text": "one more", "client_id": "c2"})
    refused = await frames_until(socket, "error")
    assert refused[-1]["code"] == "RESTARTING" and refused[-1]["client_id"] == "c2"
    await socket.send_json_to({"type": "stop"})
    assert (await frames_until(socket, "reply.ended"))[-1]["status"] == "stopped"
    assert [m.content for m in await messages_of(conversation) if m.role == "user"] == [
        "endless [[fail:hang]]"
    ]
    await socket.disconnect()


async def test_the_wait_for_running_replies_ends_when_the_last_one_does(
    alice, conversation, connect, sketricgen
):
    _, socket = await connect(alice, conversation.id)
    await socket.send_json_to(
        {"type": "send", "text": "short [[words=20]] [[delay=0.02]]", "client_id": "c1"}
    )
    await frames_until(socket, "reply.started")
    assert fanout.running()
    assert await shutdown.wait_for_replies(10) == 0
    assert (await messages_of(conversation))[-1].status == "complete"
    await socket.disconnect()


async def test_every_open_socket_is_closed_with_the_restarting_code(alice, conversation, connect):
    _, first = await connect(alice, conversation.id)
    _, second = await connect(alice, conversation.id)
    assert await consumers.close_every_socket(shutdown.RESTARTING_CLOSE_CODE) >= 2
    for socket in (first, second):
        closed = await socket.receive_output(timeout=2)
        while closed["type"] != "websocket.close":
            assert json.loads(closed["text"])["type"] != "error"
            closed = await socket.receive_output(timeout=2)
        assert closed["code"] == 4503
