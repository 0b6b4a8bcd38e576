"""A reply that pauses for decisions keeps its order: text, the decisions, the text they produced."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from conversations import reply_parts
from conversations.models import Conversation, Message
from conversations.rendering import render_markdown
from tests.conversations.conftest import signed_in_client
from tests.conversations.sockets import frames_until
from tests.conversations.test_sharing import share

APPROVE_BOTH = [{"type": "approve"}, {"type": "approve"}]
SECOND_CHOICE = [{"type": "respond", "message": "Only the team"}, {"type": "reject"}]


def request(request_id: str, at: int | None = None, status: str = "resolved") -> dict:
    shown = {"request_id": request_id, "actions": [{"name": "send_email", "args": {}}], "status": status}
    return shown if at is None else {**shown, "at": at}


def test_the_requests_the_run_went_on_after_cut_the_text_into_parts_in_order():
    text = "Before.\n\nBetween.\n\nAfter."
    first, second = request("r1", at=9), request("r2", at=19)

    html, parts = reply_parts.rendered_parts(text, second, [first])

    assert [part["html"] for part in parts] == ["<p>Before.</p>\n", "<p>Between.</p>\n"]
    assert [part["approval"]["request_id"] for part in parts] == ["r1", "r2"]
    assert html == "<p>After.</p>\n"


def test_a_request_without_a_place_stays_after_the_whole_text_as_before_parts_existed():
    pending = request("r2", status="pending")
    html, parts = reply_parts.rendered_parts("Before.\n\nMore.", pending, [request("r1", at=9)])
    assert [part["approval"]["request_id"] for part in parts] == ["r1"]
    assert html == "<p>More.</p>\n"

    html, parts = reply_parts.rendered_parts("Old reply.", request("r0"), [])
    assert (html, parts) == ("<p>Old reply.</p>\n", [])


def test_a_place_past_the_text_is_clamped():
    before, after = reply_parts.split_text("short", [request("r1", at=40), request("r2", at=3)])
    assert (before, after) == (["short", ""], "")


@pytest.fixture
def pausing_conversation(conversation, sketricgen):
    sketricgen.app.token_delay = 0
    agent = conversation.agent
    agent.options = {"enable_hitl": True}
    agent.save()
    return conversation


async def decide(ws, message_id: int, decisions: list[dict]) -> list[dict]:
    await ws.send_json_to({"type": "decide", "message_id": message_id, "decisions": decisions})
    return await frames_until(ws, "reply.ended")


@pytest.mark.django_db(transaction=True)
async def test_a_reply_that_pauses_twice_keeps_text_decisions_text_decisions_text(
    alice, pausing_conversation, connect
):
    _, ws = await connect(alice, pausing_conversation.id)
    await ws.send_json_to({"type": "send", "text": "mail the team [[hitl=2]]"})
    first_pause = (await frames_until(ws, "reply.ended"))[-1]
    message_id = first_pause["message_id"]
    assert (first_pause["status"], first_pause["parts"]) == ("paused", [])

    frames = await decide(ws, message_id, APPROVE_BOTH)
    resumed, second_pause = frames[0], frames[-1]
    # The page shows the first decisions before the text they produce.
    assert resumed["type"] == "reply.snapshot"
    assert [part["approval"]["status"] for part in resumed["parts"]] == ["resolved"]
    assert resumed["parts"][0]["html"] == render_markdown(first_pause["text"])
    assert resumed["html"] == ""
    assert second_pause["status"] == "paused"
    assert second_pause["approval"]["status"] == "pending" and "at" not in second_pause["approval"]
    first_part = {"html": render_markdown(first_pause["text"]), "approval": resumed["approval"]}
    assert second_pause["parts"] == [first_part]
    between = second_pause["text"][len(first_pause["text"]) :]
    assert second_pause["html"] == render_markdown(between)

    ended = (await decide(ws, message_id, SECOND_CHOICE))[-1]
    await ws.send_json_to({"type": "resume", "message_id": message_id, "after_seq": 0})
    reloaded = json.loads(await ws.receive_from())
    await ws.disconnect()

    assert ended["status"] == "complete"
    assert [part["approval"]["decisions"] for part in ended["parts"]] == [APPROVE_BOTH, SECOND_CHOICE]
    first, second = (part["html"] for part in ended["parts"])
    assert first == render_markdown(first_pause["text"])
    assert "create_ticket approved" in second and "create_ticket rejected" not in second
    assert "create_ticket rejected" in ended["html"] and "Resumed after" not in first
    assert ended["text"].startswith(second_pause["text"])
    # What is saved gives a reload the same parts.
    assert (reloaded["parts"], reloaded["html"]) == (ended["parts"], ended["html"])
    reply = await sync_to_async(Message.objects.get)(pk=message_id)
    assert [request["request_id"] for request in reply.earlier_approvals] == [
        ended["parts"][0]["approval"]["request_id"]
    ]


def pause_twice(conversation: Conversation) -> Message:
    """A saved reply that paused twice and went on after both."""
    text = "Drafted the mail.\n\nSent it.\n\nAll done."
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content=text,
        earlier_approvals=[{**request("r1", at=19), "decisions": [{"type": "approve"}]}],
        approval={**request("r2", at=29), "decisions": [{"type": "reject"}]},
    )


def in_order(page: str, *pieces: str) -> bool:
    places = [page.find(piece) for piece in pieces]
    return -1 not in places and places == sorted(places)


@pytest.mark.django_db
def test_history_a_snapshot_share_and_the_markdown_export_show_the_parts_in_order(alice, conversation):
    pause_twice(conversation)
    owner = signed_in_client(alice)
    shown = [
        owner.get(reverse("conversation", args=[conversation.id])).content.decode(),
        Client().get(share(owner, conversation, access="public")).content.decode(),
    ]
    for page in shown:
        assert in_order(
            page,
            '<div class="msg-parts">',
            "<p>Drafted the mail.</p>",
            "&quot;request_id&quot;: &quot;r1&quot;",
            "<p>Sent it.</p>",
            "&quot;request_id&quot;: &quot;r2&quot;",
            '<div class="msg-body"><div class="md"><p>All done.</p>',
        ), page

    exported = owner.get(reverse("export_conversation", args=[conversation.id, "md"])).content.decode()
    assert in_order(
        exported,
        "Drafted the mail.",
        "> Your decisions: send_email: approved",
        "Sent it.",
        "> Your decisions: send_email: rejected",
        "All done.",
    ), exported
