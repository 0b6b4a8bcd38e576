"""A SketricGen run that pauses for the user's approval, over the websocket."""

import json

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from tests.conversations.sockets import frames_until, messages_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def approving_conversation(conversation, sketricgen):
    sketricgen.app.token_delay = 0
    agent = conversation.agent
    agent.options = {"enable_hitl": True}
    agent.save()
    return conversation


async def paused_reply(ws) -> list[dict]:
    await ws.send_json_to({"type": "send", "text": "mail the team [[hitl]]"})
    return await frames_until(ws, "reply.ended")


async def test_a_paused_reply_shows_what_to_decide_and_is_saved_waiting(
    alice, approving_conversation, connect
):
    _, ws = await connect(alice, approving_conversation.id)
    frames = await paused_reply(ws)
    asked = next(f for f in frames if f["type"] == "approval_requested")
    assert [a["name"] for a in asked["actions"]] == ["send_email", "create_ticket"]
    ended = frames[-1]
    assert ended["status"] == "paused"
    assert ended["approval"]["status"] == "pending"

    reply = (await messages_of(approving_conversation))[-1]
    assert reply.status == "paused"
    assert reply.approval["actions"][1]["allowed"] == ["approve", "reject"]
    # A reload (or another viewer) gets the pending request from what is saved.
    await ws.send_json_to({"type": "resume", "message_id": reply.pk, "after_seq": 0})
    state = json.loads(await ws.receive_from())
    assert (state["type"], state["status"]) == ("reply.ended", "paused")
    assert state["approval"]["request_id"] == asked["request_id"]
    await ws.disconnect()


async def test_decisions_continue_the_same_reply_in_place(alice, approving_conversation, connect, sketricgen):
    _, ws = await connect(alice, approving_conversation.id)
    paused = (await paused_reply(ws))[-1]
    decisions = [{"type": "respond", "message": "Say 5% instead"}, {"type": "approve"}]
    await ws.send_json_to({"type": "decide", "message_id": paused["message_id"], "decisions": decisions})
    frames = await frames_until(ws, "reply.ended")

    snapshot = frames[0]
    assert snapshot["type"] == "reply.snapshot" and snapshot["message_id"] == paused["message_id"]
    assert snapshot["seq"] == paused["seq"] + 1
    assert snapshot["text"] == paused["text"] + "\n\n", "what the run writes next starts a new paragraph"
    assert snapshot["approval"]["status"] == "resolved"
    assert snapshot["approval"]["decisions"] == [
        {"type": "respond", "message": "Say 5% instead"},
        {"type": "approve"},
    ]
    ended = frames[-1]
    assert ended["status"] == "complete"
    assert ended["text"].startswith(paused["text"] + "\n\n")
    assert ended["html"].count("<p>") >= 2
    assert "send_email answered with 'Say 5% instead'; create_ticket approved" in ended["text"]

    messages = await messages_of(approving_conversation)
    assert len(messages) == 2, "the reply continued in place"
    assert messages[-1].status == "complete"
    assert messages[-1].approval["status"] == "resolved"
    assert messages[-1].approval["decisions"] == decisions
    resume_body = sketricgen.app.requests[-1]["body"]
    assert resume_body["hitl_resume"]["decisions"] == decisions
    first_body = next(r["body"] for r in sketricgen.app.requests if r["body"].get("enable_hitl"))
    assert "hitl_resume" not in first_body
    saved = await sync_to_async(
        lambda: approving_conversation.__class__.objects.get(pk=approving_conversation.pk)
    )()
    assert resume_body["conversation_id"] == saved.upstream_conversation_id
    await ws.disconnect()


@pytest.mark.parametrize(
    ("decisions", "problem"),
    [
        ([{"type": "approve"}], "each of the 2 actions"),
        ([{"type": "approve"}, {"type": "respond", "message": "x"}], "choose one of: approve, reject"),
        ([{"type": "respond", "message": "  "}, {"type": "approve"}], "write a response"),
        ("approve", "each of the 2 actions"),
    ],
)
async def test_decisions_that_do_not_fit_are_refused_and_the_request_stays(
    alice, approving_conversation, connect, decisions, problem
):
    _, ws = await connect(alice, approving_conversation.id)
    paused = (await paused_reply(ws))[-1]
    await ws.send_json_to({"type": "decide", "message_id": paused["message_id"], "decisions": decisions})
    refused = json.loads(await ws.receive_from())
    assert (refused["type"], refused["code"]) == ("error", "INVALID_INPUT")
    assert problem in refused["message"]
    reply = await sync_to_async(Message.objects.get)(pk=paused["message_id"])
    assert (reply.status, reply.approval["status"]) == ("paused", "pending")
    await ws.disconnect()


async def test_a_reply_that_is_not_waiting_cannot_be_decided(alice, conversation, connect, sketricgen):
    sketricgen.app.token_delay = 0
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "hello"})
    ended = (await frames_until(ws, "reply.ended"))[-1]
    await ws.send_json_to({"type": "decide", "message_id": ended["message_id"], "decisions": []})
    assert json.loads(await ws.receive_from())["code"] == "NOT_FOUND"
    await ws.disconnect()


async def test_a_request_is_answered_once_and_a_second_answer_is_refused_as_closed(
    alice, approving_conversation, connect, sketricgen
):
    _, ws = await connect(alice, approving_conversation.id)
    paused = (await paused_reply(ws))[-1]
    decisions = [{"type": "approve"}, {"type": "approve"}]
    await ws.send_json_to({"type": "decide", "message_id": paused["message_id"], "decisions": decisions})
    await frames_until(ws, "reply.ended")
    calls = len(sketricgen.app.requests)

    await ws.send_json_to(
        {"type": "decide", "message_id": paused["message_id"], "decisions": decisions, "client_id": "d2"}
    )
    refused = json.loads(await ws.receive_from())
    assert (refused["type"], refused["code"], refused["client_id"]) == ("error", "APPROVAL_CLOSED", "d2")
    assert "already answered" in refused["message"]
    assert len(sketricgen.app.requests) == calls, "nothing went to the platform"
    await ws.disconnect()


async def test_a_new_message_replaces_the_open_request_and_late_decisions_are_refused(
    alice, approving_conversation, connect, sketricgen
):
    _, ws = await connect(alice, approving_conversation.id)
    paused = (await paused_reply(ws))[-1]
    await ws.send_json_to({"type": "send", "text": "never mind, something else"})
    await frames_until(ws, "reply.ended")
    replaced = await sync_to_async(Message.objects.get)(pk=paused["message_id"])
    assert (replaced.status, replaced.approval["status"]) == ("paused", "replaced")
    calls = len(sketricgen.app.requests)

    decisions = [{"type": "approve"}, {"type": "approve"}]
    await ws.send_json_to({"type": "decide", "message_id": paused["message_id"], "decisions": decisions})
    refused = json.loads(await ws.receive_from())
    assert (refused["type"], refused["code"]) == ("error", "APPROVAL_CLOSED")
    assert "newer message replaced" in refused["message"]
    assert len(sketricgen.app.requests) == calls, "no resume reached the platform (no 422 to show)"
    await ws.send_json_to({"type": "resume", "message_id": paused["message_id"], "after_seq": 0})
    state = json.loads(await ws.receive_from())
    assert state["approval"]["status"] == "replaced"
    await ws.disconnect()


async def test_decisions_the_platform_no_longer_takes_end_the_request_as_expired_not_as_its_422(
    alice, approving_conversation, connect, sketricgen
):
    _, ws = await connect(alice, approving_conversation.id)
    paused = (await paused_reply(ws))[-1]
    sketricgen.app.pending_hitl.clear()  # the platform forgot the paused run
    decisions = [{"type": "approve"}, {"type": "approve"}]
    await ws.send_json_to({"type": "decide", "message_id": paused["message_id"], "decisions": decisions})
    ended = (await frames_until(ws, "reply.ended"))[-1]
    assert ended["status"] == "error"
    assert ended["approval"]["status"] == "expired"
    assert "no longer had this paused run" in ended["error"]
    assert "422" not in ended["error"] and "No paused run" not in ended["error"]
    assert ended["text"].startswith(paused["text"]), "the text before the pause is kept"
    reply = await sync_to_async(Message.objects.get)(pk=paused["message_id"])
    assert reply.approval["status"] == "expired"
    await ws.disconnect()
