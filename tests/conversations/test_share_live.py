"""A live members-only link: viewers watch replies stream, and can change nothing."""

import json

import pytest
from asgiref.sync import sync_to_async

from conversations import services
from conversations.models import Conversation, ShareLink
from tests.conversations.sockets import frames_until, messages_of, text_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat(alice, team_agent):
    return Conversation.objects.create(owner=alice, agent=team_agent, title="Live one")


def make_link(conversation: Conversation, **fields) -> ShareLink:
    link = ShareLink(conversation=conversation, created_by=conversation.owner, **fields)
    link.take_snapshot()
    link.save()
    return link


@pytest.fixture
def live_link(chat):
    return make_link(chat, access=ShareLink.Access.MEMBERS, live=True)


def share_path(link: ShareLink) -> str:
    return f"/ws/share/{link.token}/"


async def test_a_live_viewer_watches_a_reply_stream(alice, carol, chat, live_link, connect, sketricgen):
    connected, viewer = await connect(carol, path=share_path(live_link))
    assert connected
    _, owner = await connect(alice, chat.id)
    await owner.send_json_to({"type": "send", "text": "tell me [[words=30]]"})
    owner_frames = await frames_until(owner, "reply.ended")

    seen = await frames_until(viewer, "reply.ended")
    assert seen[0]["type"] == "user_message"
    assert seen[0]["message"]["text"] == "tell me [[words=30]]"
    assert seen[1]["type"] == "reply.started"
    assert len([f for f in seen if f["type"] == "text_delta"]) > 5
    assert text_of(seen) == text_of(owner_frames)
    assert seen[-1]["status"] == "complete"
    await viewer.disconnect()
    await owner.disconnect()


async def test_a_viewer_joining_mid_reply_gets_a_snapshot(alice, bob, chat, live_link, connect, sketricgen):
    _, owner = await connect(alice, chat.id)
    await owner.send_json_to({"type": "send", "text": "slow [[words=60]] [[delay=0.02]]"})
    await frames_until(owner, "text_delta")
    _, viewer = await connect(bob, path=share_path(live_link))
    first = json.loads(await viewer.receive_from())
    assert first["type"] == "reply.snapshot"
    assert (await frames_until(viewer, "reply.ended"))[-1]["status"] == "complete"
    await owner.disconnect()
    await viewer.disconnect()


async def test_a_live_viewer_can_change_nothing(alice, bob, chat, live_link, connect, sketricgen):
    _, owner = await connect(alice, chat.id)
    await owner.send_json_to({"type": "send", "text": "long [[words=200]] [[delay=0.02]]"})
    reply_id = (await frames_until(owner, "reply.started"))[-1]["message_id"]
    _, viewer = await connect(bob, path=share_path(live_link))
    for request in (
        {"type": "send", "text": "hijack"},
        {"type": "stop", "message_id": reply_id},
        {"type": "stop"},
        {"type": "retry", "message_id": reply_id},
        {"type": "regenerate", "message_id": reply_id},
        {"type": "edit", "message_id": reply_id - 1, "text": "x"},
        {"type": "decide", "message_id": reply_id, "decisions": []},
    ):
        await viewer.send_json_to({**request, "client_id": "v"})
        refused = await frames_until(viewer, "error")
        assert refused[-1]["code"] == "READ_ONLY", request
    assert (await frames_until(owner, "reply.ended"))[-1]["status"] == "complete"
    question, _reply = await messages_of(chat)
    assert question.content == "long [[words=200]] [[delay=0.02]]"
    await owner.disconnect()
    await viewer.disconnect()


async def test_who_may_not_watch_is_refused_at_the_handshake(alice, bob, chat, connect):
    snapshot = await sync_to_async(make_link)(chat, access=ShareLink.Access.MEMBERS)
    public = await sync_to_async(make_link)(chat, access=ShareLink.Access.PUBLIC)
    live = await sync_to_async(make_link)(chat, access=ShareLink.Access.MEMBERS, live=True)
    assert not (await connect(bob, path=share_path(snapshot)))[0]
    assert not (await connect(None, path=share_path(public)))[0]
    assert not (await connect(None, path=share_path(live)))[0]
    assert not (await connect(bob, path=f"/ws/share/{live.key}{'x' * 32}/"))[0]
    await sync_to_async(live.revoke)()
    assert not (await connect(bob, path=share_path(live)))[0]


async def test_revoking_a_live_link_closes_its_viewers(bob, live_link, connect):
    _, viewer = await connect(bob, path=share_path(live_link))

    @sync_to_async
    def revoke() -> None:
        services.revoke_share_link(ShareLink.objects.get(pk=live_link.pk))

    await revoke()
    closed = json.loads(await viewer.receive_from())
    assert closed["code"] == "NOT_FOUND"
    assert (await viewer.receive_output())["type"] == "websocket.close"


async def test_a_viewer_signed_out_elsewhere_is_refused_at_the_next_frame(bob, live_link, connect):
    from django.contrib.sessions.models import Session

    _, viewer = await connect(bob, path=share_path(live_link))
    await sync_to_async(Session.objects.all().delete)()
    await viewer.send_json_to({"type": "resume", "message_id": 1})
    assert json.loads(await viewer.receive_from())["code"] == "SIGNED_OUT"
    assert (await viewer.receive_output())["type"] == "websocket.close"


async def test_a_link_made_snapshot_only_after_opening_stops_the_viewer_at_the_next_frame(
    bob, live_link, connect
):
    _, viewer = await connect(bob, path=share_path(live_link))
    await sync_to_async(ShareLink.objects.filter(pk=live_link.pk).update)(live=False)
    await viewer.send_json_to({"type": "resume", "message_id": 1})
    assert json.loads(await viewer.receive_from())["code"] == "NOT_FOUND"
    assert (await viewer.receive_output())["type"] == "websocket.close"
