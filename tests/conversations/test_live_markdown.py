"""The block being written is shown formatted while it streams, rendered on the server at a bounded rate."""

import asyncio
import json
import time

import pytest

from agents.providers.events import TextDelta
from conversations.relay.fanout import Hub
from conversations.relay.run import LIVE_RENDER_SECONDS, ReplyRun
from conversations.rendering import render_markdown
from tests.conversations.sockets import frames_until, text_of

pytestmark = pytest.mark.django_db(transaction=True)


def live_frames(frames: list[dict]) -> list[tuple[int, dict]]:
    """(index, frame) of every frame that shows the open block rendered."""
    return [
        (i, f)
        for i, f in enumerate(frames)
        if f["type"] == "text_live" or (f["type"] == "text_delta" and "live" in f)
    ]


def live_html(frame: dict) -> str:
    return frame["html"] if frame["type"] == "text_live" else frame["live"]


def index_of_commit(frames: list[dict], needle: str) -> int:
    return next(i for i, f in enumerate(frames) if "commit" in f and needle in f["commit"]["html"])


async def test_a_list_and_an_unclosed_code_fence_are_shown_formatted_before_their_blocks_end(
    alice, conversation, connect, sketricgen
):
    sketricgen.app.token_delay = 0.02
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "show me [[words=90]]"})
    frames = await frames_until(ws, "reply.ended", seconds=20)
    await ws.disconnect()

    live = live_frames(frames)
    list_done = index_of_commit(frames, "<li>")
    code_done = index_of_commit(frames, 'class="codeblock"')
    assert any(i < list_done and "<li>" in live_html(f) for i, f in live)
    open_fence = [f for i, f in live if list_done <= i < code_done and 'class="codeblock"' in live_html(f)]
    assert open_fence, "the code block was shown as code while its fence was still open"
    assert "<pre><code>" in live_html(open_fence[-1])
    # Shown as the renderer shows any Markdown: the live block is the render of the raw text so far.
    tail = ""
    for frame in frames:
        if frame["type"] == "text_delta":
            tail = frame["commit"]["tail"] if "commit" in frame else tail + frame["text"]
            if "live" in frame:
                assert frame["live"] == render_markdown(tail)
    assert frames[-1]["html"] == render_markdown(text_of(frames))


async def test_the_open_block_is_rendered_at_most_every_100_ms(alice, conversation, connect, sketricgen):
    sketricgen.app.token_delay = 0.005
    _, ws = await connect(alice, conversation.id)
    started = time.monotonic()
    await ws.send_json_to({"type": "send", "text": "a long one [[words=400]]"})
    frames = await frames_until(ws, "reply.ended", seconds=30)
    elapsed = time.monotonic() - started
    await ws.disconnect()

    rendered = [f for _, f in live_frames(frames) if live_html(f)]
    deltas = [f for f in frames if f["type"] == "text_delta"]
    assert len(deltas) == 400
    assert 2 <= len(rendered) <= elapsed / LIVE_RENDER_SECONDS + 2
    seqs = [f["seq"] for f in frames if "seq" in f]
    assert seqs == list(range(len(seqs))), "every frame of the reply in order, none missing"


async def test_text_that_came_between_renders_is_rendered_once_the_reply_goes_quiet(alice):
    sent: list[str] = []

    async def watcher(frame: str) -> None:
        sent.append(frame)

    render_markdown("*warm*")  # the first render builds the renderer
    hub = Hub()
    hub.watchers["c1"] = {watcher}
    run = ReplyRun(message_id=1, conversation_id="c1", hub=hub)
    first = run.apply(TextDelta(text="- one\n- tw"))
    second = run.apply(TextDelta(text="o *three*"))
    assert '"live":"<ul>' in first
    assert '"live"' not in second, "a second render within 100 ms waits"
    for _ in range(40):
        await asyncio.sleep(LIVE_RENDER_SECONDS / 2)
        if sent:
            break
    assert len(sent) == 1
    frame = json.loads(sent[0])
    assert (frame["type"], frame["seq"]) == ("text_live", 3)
    assert frame["html"] == render_markdown("- one\n- two *three*")
    run.stop_live()
