"""SECURITY.md "Who may see and do what", over the websocket."""

import json

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message
from tests.conversations.sockets import frames_until, messages_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alices(alice, team_agent):
    return Conversation.objects.create(owner=alice, agent=team_agent)


@pytest.fixture
def bobs(bob, team_agent):
    return Conversation.objects.create(owner=bob, agent=team_agent)


@sync_to_async
def message_rows(conversation: Conversation) -> list[tuple]:
    return list(Message.objects.filter(conversation=conversation).values_list("pk", "content", "status"))


async def test_others_cannot_open_alices_conversation(bob, carol, alices, connect):
    for other in (bob, carol):
        connected, _ = await connect(other, alices.id)
        assert not connected


async def test_bob_cannot_stop_resume_retry_or_decide_alices_reply_from_his_own_conversation(
    alice, bob, alices, bobs, connect, sketricgen
):
    _, alice_ws = await connect(alice, alices.id)
    await alice_ws.send_json_to({"type": "send", "text": "a slow one [[words=40]] [[delay=0.02]]"})
    started = (await frames_until(alice_ws, "reply.started"))[-1]
    reply_id = started["message_id"]

    _, bob_ws = await connect(bob, bobs.id)
    for request in (
        {"type": "stop", "message_id": reply_id},
        {"type": "resume", "message_id": reply_id, "after_seq": 0},
        {"type": "retry", "message_id": reply_id},
        {"type": "regenerate", "message_id": reply_id},
        {"type": "edit", "message_id": reply_id - 1, "text": "mine"},
        {"type": "decide", "message_id": reply_id, "decisions": []},
    ):
        await bob_ws.send_json_to(request)
        if request["type"] != "stop":  # a stop of nothing running says nothing
            refused = json.loads(await bob_ws.receive_from())
            assert (refused["type"], refused["code"]) == ("error", "NOT_FOUND"), request
    assert await bob_ws.receive_nothing(timeout=0.2)

    ended = (await frames_until(alice_ws, "reply.ended"))[-1]
    assert ended["status"] == "complete"
    assert [status for _, _, status in await message_rows(alices)] == ["complete", "complete"]
    assert await message_rows(bobs) == []
    await alice_ws.disconnect()
    await bob_ws.disconnect()


async def test_a_member_who_loses_access_is_refused_at_the_next_message(
    alice, alices, research_team, connect, sketricgen
):
    _, ws = await connect(alice, alices.id)
    await sync_to_async(research_team.user_set.remove)(alice)
    await ws.send_json_to({"type": "send", "text": "still allowed?", "client_id": "c1"})
    refused = json.loads(await ws.receive_from())
    assert (refused["code"], refused["client_id"]) == ("AGENT_UNAVAILABLE", "c1")
    assert await messages_of(alices) == []
    await ws.disconnect()


async def test_carol_cannot_use_the_team_agent_in_a_conversation_she_already_has(
    carol, team_agent, connect, sketricgen
):
    # Made before the agent was limited to a group she is not in.
    conversation = await sync_to_async(Conversation.objects.create)(owner=carol, agent=team_agent)
    _, ws = await connect(carol, conversation.id)
    await ws.send_json_to({"type": "send", "text": "hello"})
    assert json.loads(await ws.receive_from())["code"] == "AGENT_UNAVAILABLE"
    assert await messages_of(conversation) == []
    await ws.disconnect()


async def test_fields_the_client_should_not_set_are_ignored_on_the_websocket(
    alice, bob, alices, connect, sketricgen
):
    _, ws = await connect(alice, alices.id)
    await ws.send_json_to(
        {
            "type": "send",
            "text": "who owns this?",
            "owner": bob.pk,
            "user_id": bob.pk,
            "conversation_id": "someone-elses",
            "api_key": "stolen",
        }
    )
    await frames_until(ws, "reply.ended")
    saved = await sync_to_async(Conversation.objects.get)(pk=alices.pk)
    assert saved.owner_id == alice.pk
    first, _reply = await messages_of(alices)
    assert first.content == "who owns this?"
    await ws.disconnect()
