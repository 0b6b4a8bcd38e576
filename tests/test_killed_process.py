"""`kill -9` of the only site process mid-reply, then a restart: the reply ends `interrupted` by itself.

A real Daphne runs in a subprocess (tests/site_process.py) and is killed with
SIGKILL while a reply streams to a websocket client, so nothing in it can save
the reply or say goodbye. A new Daphne then starts on the same port and
database, and no page or socket asks about the reply again.

A crashed process's reply counts as abandoned once its row has been untouched
for REPLY_ALIVE_SECONDS (90 s), and every process sweeps every
REPLY_SWEEP_SECONDS (30 s; 2 s here). The row is aged past REPLY_ALIVE_SECONDS
after the kill instead of waiting; the sweep itself runs for real.
"""

import contextlib
import json
import time

import pytest
from websockets.sync.client import connect

from tests.site_process import running_site

SWEEP_SECONDS = 2
# One sweep interval plus room for a slow machine: the new process's first sweep runs one
# interval after it starts.
SWEPT_WITHIN_SECONDS = SWEEP_SECONDS + 15


@pytest.fixture
def site(tmp_path):
    with running_site(
        tmp_path,
        "chatsite_killed_process",
        REPLY_CHECKPOINT_SECONDS="0.5",
        REPLY_SWEEP_SECONDS=str(SWEEP_SECONDS),
    ) as site:
        yield site


def streamed_text(frames: list[dict]) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "text_delta")


def test_a_reply_cut_off_by_kill_9_is_interrupted_after_a_restart_with_nobody_asking(site):
    conversation_id = site.new_conversation()
    frames = []
    with connect(
        f"ws://127.0.0.1:{site.port}/ws/conversations/{conversation_id}/",
        origin=site.url,
        additional_headers={"Cookie": f"sessionid={site.session_cookie()}"},
        proxy=None,
    ) as ws:
        ws.send(
            json.dumps(
                {"type": "send", "text": "Talk at length [[words=400]] [[delay=0.05]]", "client_id": "c1"}
            )
        )
        deadline = time.monotonic() + 20
        # Past a few checkpoints (every 0.5 s), well before the reply's 20 s are over.
        while len(streamed_text(frames)) < 300 and time.monotonic() < deadline:
            frames.append(json.loads(ws.recv(timeout=10)))
        site.kill()
        with contextlib.suppress(Exception):  # what the dead process had already written, then the close
            while True:
                frames.append(json.loads(ws.recv(timeout=2)))
    streamed = streamed_text(frames)
    assert "This is a simulated SketricGen agent" in streamed
    assert not [f for f in frames if f["type"] == "reply.ended"], "the reply ended before the kill"

    [reply] = site.replies()
    assert reply["status"] == "streaming"
    saved_at_kill = reply["content"]
    assert saved_at_kill, "no checkpoint was saved before the kill"

    assert site.age_streaming_replies(24 * 3600) == 1
    site.start()
    started = time.monotonic()
    while (reply := site.replies()[0])["status"] == "streaming":
        assert time.monotonic() - started < SWEPT_WITHIN_SECONDS, "the reply is still streaming"
        time.sleep(0.2)
    assert reply["status"] == "interrupted"
    assert reply["content"] == saved_at_kill
    assert streamed.startswith(saved_at_kill) or saved_at_kill.startswith(streamed)
    assert reply["error"] == "The reply was cut off when the site restarted."
