"""The chat websocket and the relay, against the SketricGen fake over real HTTP."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message
from tests.conversations.conftest import session_cookie_async
from tests.conversations.sockets import frames_until, history_of, messages_of, text_of

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def refreshed(conversation: Conversation) -> Conversation:
    return Conversation.objects.get(pk=conversation.pk)


async def test_a_reply_streams_in_pieces_and_is_saved_complete(alice, conversation, connect, sketricgen):
    connected, ws = await connect(alice, conversation.id)
    assert connected
    await ws.send_json_to({"type": "send", "text": "Hello there", "client_id": "c1"})
    frames = await frames_until(ws, "reply.ended")

    assert frames[0]["type"] == "user_message"
    assert frames[0]["client_id"] == "c1"
    assert frames[1]["type"] == "reply.started"
    deltas = [f for f in frames if f["type"] == "text_delta"]
    assert len(deltas) > 5
    assert [f["seq"] for f in frames[2:]] == list(range(1, len(frames) - 1))
    ended = frames[-1]
    assert ended["status"] == "complete"
    assert "simulated" in text_of(frames).lower()

    user_message, reply = await messages_of(conversation)
    assert (user_message.role, user_message.content) == ("user", "Hello there")
    assert reply.status == "complete"
    assert reply.content == text_of(frames)
    assert "<table>" in ended["html"]
    saved = await refreshed(conversation)
    assert saved.title == "Hello there"
    assert saved.upstream_conversation_id.startswith("conv_")
    await ws.disconnect()


async def test_the_second_turn_continues_the_platform_conversation(alice, conversation, connect, sketricgen):
    _, ws = await connect(alice, conversation.id)
    for text in ("first", "second"):
        await ws.send_json_to({"type": "send", "text": text})
        await frames_until(ws, "reply.ended")
    first, second = [r["body"] for r in sketricgen.app.requests if r["path"].endswith("run-workflow")]
    assert "conversation_id" not in first
    assert second["conversation_id"] == (await refreshed(conversation)).upstream_conversation_id
    reply = (await messages_of(conversation))[-1]
    assert "turn 2" in reply.content.lower()
    await ws.disconnect()


async def test_the_users_message_is_saved_before_the_platform_answers(
    alice, conversation, connect, sketricgen
):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "wait for it [[fail:hang]]"})
    await frames_until(ws, "reply.started")
    user_message, reply = await messages_of(conversation)
    assert user_message.content == "wait for it [[fail:hang]]"
    assert reply.status == "streaming"
    await ws.send_json_to({"type": "stop"})
    await frames_until(ws, "reply.ended")
    await ws.disconnect()


async def test_a_reply_goes_on_and_is_saved_when_the_browser_leaves(alice, conversation, connect, sketricgen):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "long one [[words=60]] [[delay=0.01]]"})
    await frames_until(ws, "text_delta")
    await ws.disconnect()

    for _ in range(200):
        reply = (await messages_of(conversation))[-1]
        if reply.status != "streaming":
            break
        await asyncio.sleep(0.05)
    assert reply.status == "complete"
    assert len(reply.content.split()) >= 60


async def test_a_reconnecting_page_resumes_with_no_gap_and_no_duplicate(
    alice, conversation, connect, sketricgen
):
    _, first = await connect(alice, conversation.id)
    await first.send_json_to({"type": "send", "text": "story [[words=80]] [[delay=0.01]]"})
    seen = await frames_until(first, "text_delta")
    seen += [json.loads(await first.receive_from()) for _ in range(5)]
    await first.disconnect()
    message_id = seen[1]["message_id"]

    _, second = await connect(alice, conversation.id)
    await second.send_json_to({"type": "resume", "message_id": message_id, "after_seq": seen[-1]["seq"]})
    later = await frames_until(second, "reply.ended")
    snapshot = later[0]
    assert snapshot["type"] == "reply.snapshot"
    events = [f for f in later if f["type"] != "reply.snapshot" and f["seq"] > snapshot["seq"]]
    assert [f["seq"] for f in events] == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(events)))

    reply = (await messages_of(conversation))[-1]
    assert snapshot["text"] + text_of(events) == reply.content
    assert len(snapshot["text"]) >= len(text_of(seen))
    await second.disconnect()


async def test_stop_keeps_the_partial_text_as_stopped(alice, conversation, connect, sketricgen):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "go on and on [[words=400]] [[delay=0.02]]"})
    frames = await frames_until(ws, "text_delta")
    await ws.send_json_to({"type": "stop", "message_id": frames[-1]["message_id"]})
    frames += await frames_until(ws, "reply.ended")
    assert frames[-1]["status"] == "stopped"
    reply = (await messages_of(conversation))[-1]
    assert reply.status == "stopped"
    assert reply.content == text_of(frames)
    assert 0 < len(reply.content.split()) < 400
    await ws.disconnect()


@pytest.mark.parametrize(
    ("directive", "expected"),
    [
        ("[[fail:500]]", "server error"),
        ("[[fail:run_error]]", "reported an error"),
        ("[[fail:drop]]", "incomplete"),
        ("[[fail:malformed]]", "not valid JSON"),
    ],
)
async def test_an_upstream_failure_ends_the_reply_as_an_error_and_keeps_the_text(
    alice, conversation, connect, sketricgen, directive, expected
):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": f"please {directive}"})
    frames = await frames_until(ws, "reply.ended")
    assert frames[-1]["status"] == "error"
    assert expected in frames[-1]["error"]
    user_message, reply = await messages_of(conversation)
    assert user_message.content == f"please {directive}"
    assert (reply.status, reply.content) == ("error", text_of(frames))
    assert expected in reply.error
    await ws.disconnect()


async def test_a_rejected_credential_is_a_readable_error(alice, conversation, connect, sketricgen):
    sketricgen.app.api_keys = {"another-key"}
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "hi"})
    ended = (await frames_until(ws, "reply.ended"))[-1]
    assert ended["status"] == "error"
    assert "rejected this credential" in ended["error"]
    await ws.disconnect()


async def test_retry_answers_the_same_question_again(alice, conversation, connect, sketricgen):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "retry me"})
    sketricgen.app.failure = "503"
    failed = (await frames_until(ws, "reply.ended"))[-1]
    assert failed["status"] == "error"
    sketricgen.app.failure = None
    await ws.send_json_to({"type": "retry", "message_id": failed["message_id"]})
    frames = await frames_until(ws, "reply.ended")
    assert frames[0]["type"] == "reply.started"
    assert frames[0]["replaces"] == failed["message_id"]
    assert frames[-1]["status"] == "complete"
    user_message, reply = await history_of(conversation)
    assert user_message.content == "retry me"
    assert reply.status == "complete"
    await ws.disconnect()


async def test_partial_text_is_checkpointed_while_streaming(
    alice, conversation, connect, sketricgen, settings
):
    settings.REPLY_CHECKPOINT_SECONDS = 0.1
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "slowly [[words=100]] [[delay=0.02]]"})
    await frames_until(ws, "text_delta")
    await asyncio.sleep(0.5)
    reply = (await messages_of(conversation))[-1]
    assert reply.status == "streaming"
    assert reply.content and reply.seq > 0
    await ws.send_json_to({"type": "stop"})
    await frames_until(ws, "reply.ended")
    await ws.disconnect()


async def test_a_message_over_the_platform_limit_is_refused_and_nothing_is_saved(
    alice, conversation, connect, sketricgen
):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "x" * 10_001, "client_id": "c9"})
    refused = json.loads(await ws.receive_from())
    assert refused["type"] == "error"
    assert refused["code"] == "INVALID_INPUT"
    assert refused["client_id"] == "c9"
    assert "10,000" in refused["message"]
    assert await messages_of(conversation) == []
    assert sketricgen.app.requests == []
    await ws.disconnect()


async def test_a_second_message_while_a_reply_runs_is_refused(alice, conversation, connect, sketricgen):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "first [[fail:hang]]"})
    await frames_until(ws, "reply.started")
    await ws.send_json_to({"type": "send", "text": "second"})
    refused = await frames_until(ws, "error")
    assert refused[-1]["code"] == "BUSY"
    assert len(await messages_of(conversation)) == 2
    await ws.send_json_to({"type": "stop"})
    await frames_until(ws, "reply.ended")
    await ws.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "BAD_FRAME"),
        ("[1, 2]", "BAD_FRAME"),
        ('{"type": "dance"}', "UNKNOWN_TYPE"),
        ('{"type": "send", "text": 5}', "INVALID_INPUT"),
        ('{"type": "resume", "message_id": "1"}', "NOT_FOUND"),
        (json.dumps({"type": "send", "text": "x" * 70_000}), "BAD_FRAME"),
    ],
)
async def test_bad_frames_get_a_clear_error_and_the_socket_stays_usable(
    alice, conversation, connect, raw, code
):
    _, ws = await connect(alice, conversation.id)
    await ws.send_to(text_data=raw)
    error = json.loads(await ws.receive_from())
    assert (error["type"], error["code"]) == ("error", code)
    await ws.send_to(text_data='{"type": "dance"}')
    assert json.loads(await ws.receive_from())["code"] == "UNKNOWN_TYPE"
    await ws.disconnect()


async def test_a_flood_of_frames_is_refused(alice, conversation, connect):
    _, ws = await connect(alice, conversation.id)
    for _ in range(25):
        await ws.send_to(text_data='{"type": "dance"}')
    codes = [json.loads(await ws.receive_from())["code"] for _ in range(25)]
    assert "RATE_LIMITED" in codes
    await ws.disconnect()


async def test_someone_elses_conversation_cannot_be_opened(bob, conversation, connect):
    connected, _ = await connect(bob, conversation.id)
    assert not connected


async def test_an_unknown_conversation_cannot_be_opened(alice, connect, db):
    connected, _ = await connect(alice, "01hzzzzzzzzzzzzzzzzzzzzzzz")
    assert not connected


async def test_signed_out_visitors_cannot_connect(conversation, connect):
    connected, _ = await connect(None, conversation.id)
    assert not connected


@pytest.mark.parametrize("origin", ["http://evil.example", "null", ""])
async def test_foreign_origins_are_refused(alice, conversation, connect, origin):
    connected, _ = await connect(alice, conversation.id, origin=origin)
    assert not connected


async def test_a_signed_out_session_is_refused_at_the_next_frame(alice, conversation, connect):
    from django.contrib.sessions.models import Session

    _, ws = await connect(alice, conversation.id)
    await sync_to_async(Session.objects.all().delete)()
    await ws.send_json_to({"type": "send", "text": "still there?"})
    refused = json.loads(await ws.receive_from())
    assert refused["code"] == "SIGNED_OUT"
    assert (await ws.receive_output())["type"] == "websocket.close"
    assert await messages_of(conversation) == []


async def test_a_deactivated_user_is_refused_at_the_next_frame(alice, conversation, connect):
    _, ws = await connect(alice, conversation.id)
    alice.is_active = False
    await sync_to_async(alice.save)()
    await ws.send_json_to({"type": "send", "text": "still there?"})
    assert json.loads(await ws.receive_from())["code"] == "SIGNED_OUT"
    assert await messages_of(conversation) == []


async def test_a_reply_abandoned_by_a_dead_process_becomes_interrupted(
    alice, conversation, connect, sketricgen
):
    from datetime import timedelta

    from django.utils import timezone

    @sync_to_async
    def abandoned_reply() -> Message:
        conversation.messages.create(role="user", content="before the crash")
        reply = conversation.messages.create(
            role="assistant", status="streaming", content="half", relay_channel="x!y"
        )
        Message.objects.filter(pk=reply.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
        return reply

    reply = await abandoned_reply()
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "resume", "message_id": reply.pk, "after_seq": 0})
    state = json.loads(await ws.receive_from())
    assert (state["type"], state["status"], state["text"]) == ("reply.ended", "interrupted", "half")
    await ws.send_json_to({"type": "send", "text": "after the crash"})
    assert (await frames_until(ws, "reply.ended"))[-1]["status"] == "complete"
    await ws.disconnect()


async def test_a_shutting_down_process_saves_running_replies_as_interrupted(
    alice, conversation, connect, sketricgen
):
    from conversations.relay import interrupt_all

    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "forever [[fail:hang]]"})
    frames = await frames_until(ws, "text_delta")
    await interrupt_all()
    frames += await frames_until(ws, "reply.ended")
    assert frames[-1]["status"] == "interrupted"
    reply = (await messages_of(conversation))[-1]
    assert (reply.status, reply.content) == ("interrupted", text_of(frames))
    await ws.disconnect()


async def test_the_saved_seq_of_a_finished_reply_is_the_seq_of_its_end(
    alice, conversation, connect, sketricgen
):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "count"})
    ended = (await frames_until(ws, "reply.ended"))[-1]
    assert (await messages_of(conversation))[-1].seq == ended["seq"]
    await ws.disconnect()


@pytest.mark.parametrize(
    ("sent", "kept"), [("Europe/Berlin", "Europe/Berlin"), ("Mars/Olympus", ""), ("", "")]
)
async def test_the_browsers_time_zone_reaches_the_turn_when_it_is_real(alice, conversation, sent, kept):
    from conversations.relay.turns import save_turn

    prepared = await save_turn(
        conversation.id,
        user_id=alice.pk,
        text="what time is it?",
        relay_channel="relay.x!y",
        timezone_name=sent,
    )
    assert prepared.turn.timezone == kept


@pytest.mark.parametrize(
    "origin", ["https://127.0.0.1:8443", "http://127.0.0.1:9999", "https://127.0.0.1:8000"]
)
async def test_the_right_host_on_another_port_or_scheme_is_refused(alice, conversation, connect, origin):
    connected, _ = await connect(alice, conversation.id, origin=origin)
    assert not connected


async def test_a_trusted_proxy_origin_is_accepted_when_the_proxy_says_https(alice, conversation, settings):
    from channels.testing import WebsocketCommunicator

    from chatsite.asgi import application

    headers = [
        (b"origin", b"http://127.0.0.1:8000"),
        (b"host", b"127.0.0.1:8000"),
        (b"x-forwarded-proto", b"https"),
        (b"cookie", f"sessionid={await session_cookie_async(alice)}".encode()),
    ]
    plain_page = WebsocketCommunicator(application, f"/ws/conversations/{conversation.id}/", headers)
    assert not (await plain_page.connect())[0]
    headers[0] = (b"origin", b"https://127.0.0.1:8000")
    tls_page = WebsocketCommunicator(application, f"/ws/conversations/{conversation.id}/", headers)
    assert (await tls_page.connect())[0]
    await tls_page.disconnect()
