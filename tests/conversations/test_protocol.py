"""The websocket protocol: documented exactly as defined, and `resume` sends only what a socket missed."""

import json
import re
from pathlib import Path

import pytest

from conversations.protocol import FrameType, RefusalCode, ReplyErrorCode, RequestType
from conversations.relay.run import LIVE_RENDER_MAX_SECONDS
from tests.conversations.sockets import frames_until

DOC = (Path(__file__).resolve().parents[2] / "docs" / "websocket.md").read_text()


def section(title: str) -> str:
    return DOC.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def table_types(text: str) -> set[str]:
    return set(re.findall(r"^\| `([a-z_.]+)` \|", text, flags=re.MULTILINE))


def test_the_document_lists_exactly_the_requests_the_server_accepts():
    assert table_types(section("Browser to server")) == {str(kind) for kind in RequestType}


def test_the_document_lists_exactly_the_frames_the_server_sends():
    assert table_types(section("Server to browser")) == {str(kind) for kind in FrameType}


def test_the_document_lists_exactly_the_refusal_codes():
    error_row = next(line for line in DOC.splitlines() if line.startswith("| `error` |"))
    listed = re.sub(r"\([^)]*\)", "", error_row.split("Codes:", 1)[1])  # explanations name settings
    codes = set(re.findall(r"`([A-Z_]+)`", listed))
    assert codes == {str(code) for code in RefusalCode}


def test_the_document_lists_exactly_the_reply_error_codes():
    paragraph = next(p for p in DOC.split("\n\n") if p.startswith("A `reply.ended` whose"))
    listed = re.sub(r"\([^)]*\)", "", paragraph.split("Codes:", 1)[1])
    assert set(re.findall(r"`([A-Z_]+)`", listed)) == {str(code) for code in ReplyErrorCode}


async def quiet(ws, seconds: float = 0.3) -> bool:
    return await ws.receive_nothing(timeout=seconds)


async def until_quiet(ws, seconds: float = 0.3) -> list[dict]:
    """The frames the socket gets until it has been sent nothing for `seconds`."""
    frames = []
    while not await quiet(ws, seconds):
        frames.append(json.loads(await ws.receive_from()))
    return frames


@pytest.mark.django_db(transaction=True)
async def test_resume_of_a_running_reply_sends_a_snapshot_only_to_a_socket_that_missed_events(
    alice, conversation, connect, sketricgen
):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "then silence [[fail:hang]]"})
    frames = await frames_until(ws, "text_delta")
    # The reply hangs after its first words; their live rendering may come up to a second later.
    frames += await until_quiet(ws, LIVE_RENDER_MAX_SECONDS + 0.3)
    message_id = frames[1]["message_id"]
    last_seq = max(f.get("seq", 0) for f in frames)

    await ws.send_json_to({"type": "resume", "message_id": message_id, "after_seq": last_seq})
    assert await quiet(ws), "a socket that missed nothing gets nothing"

    await ws.send_json_to({"type": "resume", "message_id": message_id, "after_seq": last_seq - 1})
    snapshot = json.loads(await ws.receive_from())
    assert (snapshot["type"], snapshot["seq"]) == ("reply.snapshot", last_seq)

    await ws.send_json_to({"type": "resume", "message_id": message_id})
    assert json.loads(await ws.receive_from())["type"] == "reply.snapshot"

    await ws.send_json_to({"type": "stop", "message_id": message_id})
    assert (await frames_until(ws, "reply.ended"))[-1]["status"] == "stopped"
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_resume_of_a_finished_reply_sends_its_ending_even_to_a_socket_that_saw_it(
    alice, conversation, connect, sketricgen
):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "Hello"})
    ended = (await frames_until(ws, "reply.ended"))[-1]

    await ws.send_json_to({"type": "resume", "message_id": ended["message_id"], "after_seq": ended["seq"]})
    resumed = json.loads(await ws.receive_from())
    assert {k: resumed[k] for k in ("type", "seq", "status", "text", "html")} == {
        k: ended[k] for k in ("type", "seq", "status", "text", "html")
    }
    await ws.disconnect()
