"""Regenerate the last reply, edit the last message and send it again; per-user limits."""

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message
from tests.conversations.sockets import frames_until, history_of, messages_of

pytestmark = pytest.mark.django_db(transaction=True)


async def finished_turn(ws, text: str) -> list[dict]:
    await ws.send_json_to({"type": "send", "text": text, "client_id": text})
    return await frames_until(ws, "reply.ended")


async def test_regenerate_answers_the_last_message_again_and_keeps_the_earlier_reply_as_a_version(
    alice, conversation, connect, sketricgen
):
    _, ws = await connect(alice, conversation.id)
    first = await finished_turn(ws, "tell me a story")
    old_reply = first[-1]["message_id"]

    await ws.send_json_to({"type": "regenerate", "message_id": old_reply})
    frames = await frames_until(ws, "reply.ended")
    assert frames[0]["type"] == "reply.started"
    assert frames[0]["replaces"] == old_reply
    assert frames[0]["versions"] == {
        "index": 2,
        "count": 2,
        "previous_id": old_reply,
        "next_id": None,
        "note": "The agent also remembers its other versions of this reply.",
    }
    assert frames[-1]["status"] == "complete"

    question, reply = await history_of(conversation)
    assert question.content == "tell me a story"
    assert reply.pk == frames[-1]["message_id"] != old_reply
    earlier = next(m for m in await messages_of(conversation) if m.pk == old_reply)
    assert (earlier.chosen, earlier.in_history, earlier.status) == (False, False, "complete")
    assert earlier.parent_id == reply.parent_id == question.pk
    assert reply.first_version_id == old_reply
    await ws.disconnect()


async def test_only_the_last_finished_reply_can_be_regenerated(alice, conversation, connect, sketricgen):
    _, ws = await connect(alice, conversation.id)
    first = await finished_turn(ws, "one")
    await finished_turn(ws, "two")
    await ws.send_json_to({"type": "regenerate", "message_id": first[-1]["message_id"]})
    assert (await frames_until(ws, "error"))[-1]["code"] == "NOT_FOUND"
    assert len(await messages_of(conversation)) == 4
    await ws.disconnect()


async def test_editing_the_last_message_keeps_it_and_its_reply_as_a_version(
    alice, conversation, connect, sketricgen
):
    _, ws = await connect(alice, conversation.id)
    await finished_turn(ws, "first question")
    second = await finished_turn(ws, "second question with a tpyo")
    old_question, old_reply = second[0]["message"]["id"], second[-1]["message_id"]

    await ws.send_json_to(
        {"type": "edit", "message_id": old_question, "text": "second question, fixed", "client_id": "e1"}
    )
    frames = await frames_until(ws, "reply.ended")
    assert frames[0]["type"] == "user_message"
    assert (frames[0]["client_id"], frames[0]["replaces"]) == ("e1", old_question)
    assert frames[0]["message"]["text"] == "second question, fixed"
    assert frames[0]["message"]["versions"]["index"] == frames[0]["message"]["versions"]["count"] == 2
    assert frames[0]["message"]["versions"]["note"] == "The agent also saw your earlier version."
    assert "title" not in frames[0]  # not the first message
    assert (frames[1]["type"], frames[1]["replaces"]) == ("reply.started", old_reply)
    assert frames[-1]["status"] == "complete"

    contents = [(m.role, m.content) for m in await history_of(conversation)]
    assert contents[0] == ("user", "first question")
    assert contents[2] == ("user", "second question, fixed")
    assert len(contents) == 4
    kept = {m.pk: m for m in await messages_of(conversation)}
    assert kept[old_question].content == "second question with a tpyo"
    assert kept[old_reply].parent_id == old_question
    assert not kept[old_question].in_history and not kept[old_reply].in_history
    await ws.disconnect()


async def test_only_the_last_user_message_can_be_edited(alice, conversation, connect, sketricgen):
    _, ws = await connect(alice, conversation.id)
    first = await finished_turn(ws, "one")
    await finished_turn(ws, "two")
    await ws.send_json_to({"type": "edit", "message_id": first[0]["message"]["id"], "text": "uno"})
    assert (await frames_until(ws, "error"))[-1]["code"] == "NOT_FOUND"
    assert [m.content for m in await history_of(conversation)][::2] == ["one", "two"]
    await ws.disconnect()


async def test_messages_over_the_per_minute_limit_are_refused(
    alice, conversation, connect, sketricgen, settings
):
    settings.MESSAGES_PER_MINUTE = 2
    _, ws = await connect(alice, conversation.id)
    await finished_turn(ws, "one")
    await finished_turn(ws, "two")
    await ws.send_json_to({"type": "send", "text": "three", "client_id": "c3"})
    refused = await frames_until(ws, "error")
    assert (refused[-1]["code"], refused[-1]["client_id"]) == ("MESSAGE_LIMIT", "c3")
    assert "at most 2 messages a minute" in refused[-1]["message"]
    assert len(await messages_of(conversation)) == 4
    await ws.disconnect()


async def test_running_replies_over_the_limit_are_refused(
    alice, conversation, sketricgen_agent, connect, sketricgen, settings
):
    settings.RUNNING_REPLIES_PER_USER = 1
    other = await sync_to_async(Conversation.objects.create)(owner=alice, agent=sketricgen_agent)
    _, first = await connect(alice, conversation.id)
    _, second = await connect(alice, other.id)
    await first.send_json_to({"type": "send", "text": "long [[words=300]] [[delay=0.02]]"})
    await frames_until(first, "reply.started")
    await second.send_json_to({"type": "send", "text": "another", "client_id": "c2"})
    refused = await frames_until(second, "error")
    assert refused[-1]["code"] == "REPLY_LIMIT"
    assert await messages_of(other) == []
    await first.send_json_to({"type": "stop"})
    await frames_until(first, "reply.ended")
    await second.send_json_to({"type": "send", "text": "another", "client_id": "c2"})
    assert (await frames_until(second, "reply.ended"))[-1]["status"] == "complete"
    await first.disconnect()
    await second.disconnect()


async def test_other_users_messages_do_not_count_against_the_limit(
    alice, bob, conversation, sketricgen_agent, connect, sketricgen, settings
):
    settings.MESSAGES_PER_MINUTE = 1
    bobs = await sync_to_async(Conversation.objects.create)(owner=bob, agent=sketricgen_agent)
    await sync_to_async(Message.objects.create)(conversation=bobs, role=Message.Role.USER, content="hi")
    _, ws = await connect(alice, conversation.id)
    assert (await finished_turn(ws, "mine"))[-1]["status"] == "complete"
    await ws.disconnect()
