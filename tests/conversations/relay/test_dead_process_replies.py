"""A reply whose process died becomes `interrupted` by itself, and every page watching it is told."""

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from conversations import relay
from conversations.models import Message
from conversations.relay import fanout, sweep
from tests.conversations.conftest import session_cookie_async

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_CHANNEL = "relay.gone!a1b2c3"


@pytest.fixture
def fast_sweeps(settings):
    """Sweeps every 0.1 s; the sweeper of the test's event loop is stopped afterwards."""
    settings.REPLY_SWEEP_SECONDS = 0.1
    yield
    if fanout.hub._sweeper is not None:
        fanout.hub._sweeper.cancel()


@sync_to_async
def reply_of_a_dead_process(conversation, text: str = "Half an ans") -> Message:
    """A streaming reply as a process leaves it when killed: relayed by a channel nobody reads."""
    conversation.messages.create(role=Message.Role.USER, content="Tell me")
    return conversation.messages.create(
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        content=text,
        seq=7,
        relay_channel=DEAD_CHANNEL,
    )


@sync_to_async
def last_touched(message: Message, seconds_ago: float) -> None:
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds_ago))


@sync_to_async
def saved(message: Message) -> Message:
    return Message.objects.get(pk=message.pk)


async def next_frame(communicator, seconds: float = 5) -> dict:
    return json.loads(await communicator.receive_from(timeout=seconds))


async def test_a_dead_processes_reply_is_interrupted_by_the_sweep_and_the_open_page_told(
    alice, conversation, connect, fast_sweeps
):
    reply = await reply_of_a_dead_process(conversation)
    _, ws = await connect(alice, conversation.id)  # while the reply still looks alive
    await asyncio.sleep(0.3)
    assert (await saved(reply)).status == "streaming"

    await last_touched(reply, settings.REPLY_ALIVE_SECONDS + 1)  # its process died that long ago
    ended = await next_frame(ws)

    assert ended["type"] == "reply.ended"
    assert (ended["message_id"], ended["status"], ended["text"]) == (reply.pk, "interrupted", "Half an ans")
    assert "cut off" in ended["error"]
    now_saved = await saved(reply)
    assert (now_saved.status, now_saved.content) == ("interrupted", "Half an ans")
    await ws.disconnect()


async def test_the_sweep_runs_with_nobody_looking(alice, conversation, fast_sweeps):
    reply = await reply_of_a_dead_process(conversation)
    await last_touched(reply, settings.REPLY_ALIVE_SECONDS + 1)

    relay.start_sweeping()  # what the site does when Daphne starts
    for _ in range(50):
        if (await saved(reply)).status != "streaming":
            break
        await asyncio.sleep(0.1)

    assert (await saved(reply)).status == "interrupted"


async def test_a_page_is_told_of_an_interruption_another_process_marked(alice, conversation, connect):
    reply = await reply_of_a_dead_process(conversation)
    _, ws = await connect(alice, conversation.id)
    await last_touched(reply, settings.REPLY_ALIVE_SECONDS + 1)
    # Another process (its sweep, or a visit there) marks the reply; this process's sweep tells its page.
    await sync_to_async(relay.mark_abandoned_replies)(conversation.pk)
    await sweep.sweep(fanout.hub)

    ended = await next_frame(ws)
    assert (ended["type"], ended["message_id"], ended["status"]) == ("reply.ended", reply.pk, "interrupted")
    await ws.disconnect()


async def test_a_reply_alive_in_this_process_is_left_alone(alice, conversation, connect, sketricgen):
    sketricgen.app.token_delay = 0.05
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "Talk a while [[words=100]]"})
    started = [await next_frame(ws), await next_frame(ws)][-1]
    running = fanout.hub.runs[started["message_id"]]
    await last_touched(await saved(Message(pk=running.message_id)), settings.REPLY_ALIVE_SECONDS + 1)

    await sweep.sweep(fanout.hub)

    assert (await saved(Message(pk=running.message_id))).status == "streaming"
    fanout.hub.stop(conversation.pk, running.message_id)
    while (await next_frame(ws))["type"] != "reply.ended":
        pass
    await ws.disconnect()


async def test_a_german_pages_visit_saves_the_interruption_in_english_and_the_ending_carries_its_code(
    alice, conversation, connect
):
    reply = await reply_of_a_dead_process(conversation)
    await last_touched(reply, settings.REPLY_ALIVE_SECONDS + 1)
    cookie = await session_cookie_async(alice)
    # The German page's socket finds the reply abandoned and marks it; the sweep then tells the page.
    _, german = await connect(alice, conversation.id, cookie=f"{cookie}; {settings.LANGUAGE_COOKIE_NAME}=de")
    await sweep.sweep(fanout.hub)

    ended = await next_frame(german)
    assert (ended["type"], ended["status"]) == ("reply.ended", "interrupted")
    assert ended["error_code"] == "CUT_OFF"
    # Saved in the site's own English words, which every page translates for its reader.
    assert (await saved(reply)).error == "The reply was cut off when the site restarted."
    await german.disconnect()
