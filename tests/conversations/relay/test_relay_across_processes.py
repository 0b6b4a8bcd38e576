"""A socket served by another Daphne process watches and stops a reply through the channel layer.

The second process is simulated by giving the relay a fresh Hub while
the first one keeps relaying; with REDIS_URL set this goes through Redis.
"""

import asyncio
import contextlib
import json

import pytest

from conversations.relay import Hub, fanout, outbox
from tests.conversations.sockets import frames_until, messages_of, text_of, watching

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def second_process(monkeypatch):
    def switch():
        monkeypatch.setattr(fanout, "hub", Hub())

    return switch


async def test_a_socket_on_another_process_sees_the_running_reply(
    alice, conversation, connect, sketricgen, second_process
):
    _, first = await connect(alice, conversation.id)
    await first.send_json_to({"type": "send", "text": "tell me [[words=60]] [[delay=0.02]]"})
    await frames_until(first, "text_delta")
    await first.disconnect()

    second_process()
    _, second = await connect(alice, conversation.id)
    frames = await frames_until(second, "reply.ended")
    snapshot = frames[0]
    assert snapshot["type"] == "reply.snapshot"
    events = [f for f in frames[1:] if f["type"] != "reply.snapshot"]
    assert [f["seq"] for f in events] == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(events)))
    reply = (await messages_of(conversation))[-1]
    assert reply.status == "complete"
    assert snapshot["text"] + text_of(events) == reply.content
    await second.disconnect()


async def test_stop_reaches_the_process_running_the_reply(
    alice, conversation, connect, sketricgen, second_process
):
    _, first = await connect(alice, conversation.id)
    await first.send_json_to({"type": "send", "text": "endless [[fail:hang]]"})
    await frames_until(first, "text_delta")

    second_process()
    _, second = await connect(alice, conversation.id)
    assert json.loads(await second.receive_from())["type"] == "reply.snapshot"
    await second.send_json_to({"type": "stop"})
    ended = await frames_until(second, "reply.ended")
    assert ended[-1]["status"] == "stopped"
    assert (await messages_of(conversation))[-1].status == "stopped"
    await first.disconnect()
    await second.disconnect()


async def remote_run(monkeypatch, batch_seconds: float):
    """A reply with one watcher in another process (a channel of the layer), batches every `batch_seconds`."""
    from channels.layers import get_channel_layer

    from conversations.relay import ReplyRun

    monkeypatch.setattr(outbox, "REMOTE_BATCH_SECONDS", batch_seconds)
    layer = get_channel_layer()
    channel = await layer.new_channel("socket.")
    return ReplyRun(message_id=1, conversation_id="c1", hub=Hub(), remote_watchers={channel}), layer, channel


async def test_a_frame_for_another_process_after_a_quiet_spell_goes_at_once(monkeypatch):
    run, layer, channel = await remote_run(monkeypatch, batch_seconds=60)
    await run.hub.publish(run, '{"seq":1}')
    try:
        assert (await asyncio.wait_for(layer.receive(channel), 5))["frames"] == ['{"seq":1}']
    finally:
        run.flusher.cancel()


async def test_frames_for_another_process_go_in_one_layer_message_per_interval_however_many(monkeypatch):
    run, layer, channel = await remote_run(monkeypatch, batch_seconds=0.05)
    frames = [json.dumps({"seq": n}) for n in range(1, 201)]
    await run.hub.publish(run, frames[0])
    assert (await asyncio.wait_for(layer.receive(channel), 5))["frames"] == frames[:1]
    for frame in frames[1:]:
        await run.hub.publish(run, frame)
    await outbox.drain(run)
    assert (await asyncio.wait_for(layer.receive(channel), 5))["frames"] == frames[1:]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.3)


async def test_a_long_busy_reply_goes_to_another_process_in_fewer_longer_batches(monkeypatch):
    """The interval doubles while each brings frames: 1.2 s of a frame every 20 ms is a handful of
    layer messages (a fixed 50 ms interval makes 24), all frames in order."""
    run, layer, channel = await remote_run(monkeypatch, batch_seconds=0.05)
    monkeypatch.setattr(outbox, "REMOTE_BATCH_MOST_SECONDS", 0.2)
    frames = [json.dumps({"seq": n}) for n in range(1, 61)]
    for frame in frames:
        await run.hub.publish(run, frame)
        await asyncio.sleep(0.02)
    await outbox.drain(run)
    batches = []
    with contextlib.suppress(TimeoutError):
        while True:
            batches.append((await asyncio.wait_for(layer.receive(channel), 0.3))["frames"])
    assert [frame for batch in batches for frame in batch] == frames
    assert len(batches) <= 12


async def test_a_socket_that_starts_watching_during_a_reply_gets_its_snapshot_first(monkeypatch):
    """Joining the conversation's group takes a trip to Redis; an event meanwhile must not come first."""
    from channels.layers import get_channel_layer

    from conversations.relay import ReplyRun

    hub, layer = Hub(), get_channel_layer()
    run = ReplyRun(message_id=1, conversation_id="c1", hub=hub)
    hub.runs[run.message_id] = run
    group_add = layer.group_add

    async def an_event_while_joining(group: str, channel: str) -> None:
        run.seq += 1
        await hub.publish(run, json.dumps({"type": "text_delta", "seq": run.seq, "delta": "Hi"}))
        await group_add(group, channel)

    monkeypatch.setattr(layer, "group_add", an_event_while_joining)
    received: list[dict] = []

    async def send(text: str) -> None:
        received.append(json.loads(text))

    await hub.watch("c1", send, reply_to=await layer.new_channel("socket."))
    assert [(frame["type"], frame["seq"]) for frame in received] == [("reply.snapshot", 1)]
    hub._sweeper.cancel()


async def test_frames_of_a_reply_taken_over_here_that_come_late_from_the_process_it_left_are_dropped(
    alice, conversation, connect, second_process
):
    """A stalled process wakes with a batch on its way: the page hears only the process that took over."""
    from channels.layers import get_channel_layer

    from conversations.relay import ReplyRun, conversation_group

    second_process()
    _, socket = await connect(alice, conversation.id)
    assert await watching(conversation.id)
    fanout.hub.take_over(ReplyRun(message_id=7, conversation_id=conversation.id, hub=fanout.hub))
    layer, group = get_channel_layer(), conversation_group(conversation.id)

    def delta(message_id: int, text: str) -> dict:
        frame = json.dumps({"type": "text_delta", "message_id": message_id, "seq": 3, "delta": text})
        return {"type": "relay.frames", "frames": [frame], "message_id": message_id}

    await layer.group_send(group, delta(7, "stale"))
    await layer.group_send(group, delta(8, "news"))
    assert json.loads(await socket.receive_from())["delta"] == "news"
    assert await socket.receive_nothing(timeout=0.2)
