"""The AG-UI adapter against a real AG-UI server: Pydantic AI's, scripted (tests/ag_ui_server.py)."""

import json
from contextlib import aclosing

import pytest

from agents.providers.ag_ui import REASONING_PREFIX, AGUIProvider, assistant_messages
from agents.providers.base import AgentSpec, Connection, HistoryMessage, Turn, UpstreamError, UserRef
from agents.providers.events import (
    Activity,
    ApprovalRequested,
    RunFinished,
    RunStarted,
    TextDelta,
    ToolFinished,
    ToolStarted,
)
from tests import ag_ui_server
from tests.fakes import ServedApp

ALICE = UserRef(1, "alice", "alice@example.com")


@pytest.fixture(scope="module")
def server():
    with ServedApp(ag_ui_server.app) as served:
        yield served


def provider(server, path="/agent") -> AGUIProvider:
    return AGUIProvider(Connection(server.url, ""), AgentSpec(path, {}))


async def collect(provider, turn):
    async with aclosing(provider.stream_reply(turn)) as events:
        return [event async for event in events]


def text(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_a_reply_streams_with_our_thread_id(server):
    events = await collect(
        provider(server), Turn(text="hello", user=ALICE, upstream_conversation_id="thread-7")
    )
    assert events[0] == RunStarted(conversation_id="thread-7", run_id=events[0].run_id)
    assert events[0].run_id.startswith("run-")
    assert text(events) == "You said: “hello”. I was sent 0 earlier message(s)."
    assert isinstance(events[-1], RunFinished)


async def test_a_new_conversation_gets_a_thread_id(server):
    events = await collect(provider(server), Turn(text="hello", user=ALICE))
    assert events[0].conversation_id.startswith("chatsite-")


async def test_the_history_goes_with_the_turn(server):
    history = (
        HistoryMessage("user", "What is the weather?", id="m-1"),
        HistoryMessage(
            "assistant",
            "The tool said: sunny. Done.",
            id="m-2",
            tool_calls=(
                {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}', "result": "sunny"},
                {"id": REASONING_PREFIX + "r1", "name": "Reasoning", "result": "hmm"},
            ),
        ),
    )
    events = await collect(provider(server), Turn(text="and tomorrow?", user=ALICE, history=history))
    # The user's question, the call, its result and the answer: four earlier messages for the model.
    assert "I was sent 4 earlier message(s)." in text(events)


def test_a_saved_reply_becomes_its_call_the_result_and_the_answer_without_reasoning():
    reply = HistoryMessage(
        "assistant",
        "Sunny.",
        id="m-2",
        tool_calls=(
            {"id": REASONING_PREFIX + "r1", "name": "Reasoning", "result": "hmm"},
            {"id": "call_1", "name": "get_weather", "arguments": "{}", "result": "sunny"},
        ),
    )
    wire = [m.model_dump(by_alias=True, exclude_none=True) for m in assistant_messages(reply)]
    assert wire == [
        {
            "id": "m-2",
            "role": "assistant",
            "toolCalls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"id": "call_1-result", "role": "tool", "content": "sunny", "toolCallId": "call_1"},
        {"id": "m-2-text", "role": "assistant", "content": "Sunny."},
    ]


async def test_a_tool_call_shows_its_arguments_and_result(server):
    events = await collect(provider(server), Turn(text="weather please", user=ALICE))
    tools = [e for e in events if isinstance(e, ToolStarted | ToolFinished)]
    assert tools == [
        ToolStarted(id="call_weather", name="get_weather"),
        ToolFinished(id="call_weather", arguments='{"city": "Paris"}'),
        ToolFinished(id="call_weather", result="Sunny in Paris, 22 °C"),
    ]
    assert text(events) == "The tool said: Sunny in Paris, 22 °C. Done."


async def test_reasoning_comes_as_a_folded_chip(server):
    events = await collect(provider(server), Turn(text="think", user=ALICE))
    assert Activity(text="Thinking…") in events
    chips = [e for e in events if isinstance(e, ToolStarted)]
    assert [c.name for c in chips] == ["Reasoning"] and chips[0].id.startswith(REASONING_PREFIX)
    assert ToolFinished(id=chips[0].id, result="Let me think about this carefully.") in events


async def test_a_run_error_is_the_replys_error(server):
    with pytest.raises(
        UpstreamError, match=r"The agent reported an error: The scripted model crashed on purpose\."
    ):
        await collect(provider(server), Turn(text="crash", user=ALICE))


async def test_an_approval_interrupt_pauses_and_the_decision_resumes_the_run(server):
    ag_ui_server.DELETED.clear()
    asked = await collect(
        provider(server), Turn(text="delete it", user=ALICE, upstream_conversation_id="t-9")
    )
    approval = asked[-1]
    assert isinstance(approval, ApprovalRequested)
    assert approval.actions == [
        {"name": "delete_file", "args": {"path": "notes.txt"}, "allowed": ["approve", "reject"]}
    ]
    assert json.loads(approval.request_id) == {"interrupts": [{"id": "int-call_delete", "tool": True}]}
    assert ag_ui_server.DELETED == []

    paused = HistoryMessage(
        "assistant",
        "",
        id="m-2",
        tool_calls=({"id": "call_delete", "name": "delete_file", "arguments": '{"path": "notes.txt"}'},),
    )
    resume = Turn(
        text="",
        user=ALICE,
        upstream_conversation_id="t-9",
        history=(HistoryMessage("user", "delete it", id="m-1"), paused),
        approval={"request_id": approval.request_id, "decisions": [{"type": "approve"}]},
    )
    events = await collect(provider(server), resume)
    assert ToolFinished(id="call_delete", result="Deleted notes.txt") in events
    assert text(events) == "The tool said: Deleted notes.txt. Done."
    assert ag_ui_server.DELETED == ["notes.txt"]


async def test_a_rejected_action_is_not_run(server):
    ag_ui_server.DELETED.clear()
    asked = await collect(provider(server), Turn(text="delete it", user=ALICE))
    paused = HistoryMessage(
        "assistant", "", id="m-2", tool_calls=({"id": "call_delete", "name": "delete_file"},)
    )
    resume = Turn(
        text="",
        user=ALICE,
        history=(HistoryMessage("user", "delete it", id="m-1"), paused),
        approval={"request_id": asked[-1].request_id, "decisions": [{"type": "reject"}]},
    )
    events = await collect(provider(server), resume)
    assert isinstance(events[-1], RunFinished)
    assert ag_ui_server.DELETED == []


async def test_check_connection_starts_a_run_and_reads_the_protocol_version(server):
    said = await provider(server).check_connection()
    assert said == f"Connected: {server.url}/agent speaks AG-UI (AG-UI 1.0) and started a run."
    with pytest.raises(UpstreamError, match="HTTP 404"):
        await provider(server, "/nowhere").check_connection()
