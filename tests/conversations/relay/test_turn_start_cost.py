"""What starting a turn costs: one trip to the database thread and one short transaction, still checked.

How long turn starts take when 100 users start at once is measured by `bench/relay.py`.
"""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import DatabaseSyncToAsync
from django.contrib.sessions.backends.db import SessionStore

from conversations.consumers import ConversationConsumer
from conversations.models import Message
from conversations.relay import turns
from tests.conversations.conftest import session_cookie
from tests.conversations.sockets import frames_until, messages_of

pytestmark = pytest.mark.django_db(transaction=True)

# The socket's check (the session; the owner, active) and the turn: the locked conversation with
# the agent's access, the open replies, the limits, the last message, two inserts, the title, and
# BEGIN and COMMIT where the database reports them (SQLite).
TURN_START_QUERIES = 11


@pytest.fixture
def trips_to_the_database_thread(monkeypatch):
    """The names of the functions run in the database thread from now on, in order."""
    trips: list[str] = []
    handler = DatabaseSyncToAsync.thread_handler

    def recording(self, loop, *args, **kwargs):
        trips.append(getattr(self.func, "__qualname__", repr(self.func)))
        return handler(self, loop, *args, **kwargs)

    monkeypatch.setattr(DatabaseSyncToAsync, "thread_handler", recording)
    return trips


async def test_a_send_frame_takes_one_trip_to_the_database_thread_checks_included(
    alice, conversation, connect, sketricgen, trips_to_the_database_thread
):
    _, ws = await connect(alice, conversation.id)
    trips_to_the_database_thread.clear()
    await ws.send_json_to({"type": "send", "text": "Hello there", "client_id": "c1"})
    user_message = json.loads(await ws.receive_from())
    trips_before_the_message = list(trips_to_the_database_thread)
    await frames_until(ws, "reply.ended")
    await ws.disconnect()

    assert user_message["type"] == "user_message"
    # (The socket's connect may still be asking who runs the conversation's reply meanwhile.)
    assert trips_before_the_message.count("save_turn") == 1
    assert [trip for trip in trips_before_the_message if "Consumer." in trip] == []


def test_a_turn_start_is_one_short_transaction_with_its_checks(
    alice, conversation, sketricgen, django_assert_max_num_queries
):
    socket = ConversationConsumer()
    socket.user_id, socket.conversation_id = alice.pk, conversation.pk
    socket.scope = {"session": SessionStore(session_key=session_cookie(alice))}

    with django_assert_max_num_queries(TURN_START_QUERIES):
        prepared = turns.save_turn.func(
            conversation.pk,
            user_id=alice.pk,
            text="Hello there",
            relay_channel="here!1",
            check=socket.check_frame,
        )

    assert prepared.user_message.content == "Hello there"
    assert prepared.reply.status == Message.Status.STREAMING
    assert prepared.reply.parent_id == prepared.user_message.pk


async def test_a_signed_out_session_cannot_regenerate_at_the_next_frame(
    alice, conversation, connect, sketricgen
):
    from django.contrib.sessions.models import Session

    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "Hello there"})
    reply_id = (await frames_until(ws, "reply.ended"))[-1]["message_id"]
    await sync_to_async(Session.objects.all().delete)()

    await ws.send_json_to({"type": "regenerate", "message_id": reply_id})

    assert json.loads(await ws.receive_from())["code"] == "SIGNED_OUT"
    assert (await ws.receive_output())["type"] == "websocket.close"
    assert len(await messages_of(conversation)) == 2


async def test_a_conversation_deleted_while_its_page_is_open_refuses_the_next_message(
    alice, conversation, connect, sketricgen
):
    _, ws = await connect(alice, conversation.id)
    await sync_to_async(conversation.delete)()

    await ws.send_json_to({"type": "send", "text": "still there?"})

    assert json.loads(await ws.receive_from())["code"] == "NOT_FOUND"
    closed = await ws.receive_output()
    assert (closed["type"], closed["code"]) == ("websocket.close", 4404)
