"""The workflow chat (B3OS Caddie) adapter over real HTTP against its fake platform."""

import asyncio
import json
import uuid
from contextlib import aclosing

import httpx
import pytest

from agents.fakes.workflow_chat import ERROR_MESSAGE, reply_text
from agents.providers.base import AgentSpec, Connection, Turn, UpstreamError, UserRef
from agents.providers.events import (
    Activity,
    ResumePoint,
    Retrying,
    RunFinished,
    RunStarted,
    TextDelta,
    TextReplace,
    ToolFinished,
    ToolStarted,
)
from agents.providers.http import upstream_client
from agents.providers.workflow_chat import WorkflowChatProvider, validate_definition, validate_options
from tests.fakes import FIXTURES, FakePlatform, ServedApp

ALICE = UserRef(1, "alice", "a@x")
PATH = "/v1/ai/workflow/chat/stream"
GOLDEN = FIXTURES / "workflow_chat" / "normal.sse"
GOLDEN_CONVERSATION = "6f1c2a8e-3b7d-4e59-9a0c-1d2e3f4a5b6c"
GOLDEN_REQUEST = "0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b"
GOLDEN_MESSAGE = "Plan a price alert [[tool]]"
DEFINITION = {
    "nodes": {
        "root": {"type": "manual", "children": ["notify"]},
        "notify": {"type": "send_telegram", "children": []},
    }
}


@pytest.fixture
def workflow_chat(fake_platform):
    return fake_platform("workflow_chat")


@pytest.fixture(autouse=True)
async def fresh_client():
    yield
    await upstream_client().aclose()


def provider(fake, *, key="demo-key", **options) -> WorkflowChatProvider:
    adapter = WorkflowChatProvider(Connection(fake.url, key), AgentSpec("caddie", options))
    adapter.replay_base_delay = 0.01
    return adapter


async def reply(fake, text, *, conversation_id="", **options):
    """The events of a reply, without the resume points between them (tested on their own)."""
    turn = Turn(text, user=ALICE, upstream_conversation_id=conversation_id)
    events = provider(fake, **options).stream_reply(turn)
    return [event async for event in events if not isinstance(event, ResumePoint)]


async def failed_reply(fake, text, **options):
    """The events yielded before the reply failed (without resume points), and the error."""
    events = []
    with pytest.raises(UpstreamError) as info:
        async for event in provider(fake, **options).stream_reply(Turn(text, user=ALICE)):
            if not isinstance(event, ResumePoint):
                events.append(event)
    return events, info.value


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def stream_requests(fake):
    return [r for r in fake.app.requests if r["path"] == PATH]


# --- Replies ---------------------------------------------------------------------------------


async def test_streamed_reply(workflow_chat):
    events = await reply(workflow_chat, "Hello Caddie")

    started = events[0]
    assert isinstance(started, RunStarted)
    assert uuid.UUID(started.conversation_id).version == 4
    assert uuid.UUID(started.run_id).version == 4
    assert events[1] == Activity(text="Reading your message")
    assert isinstance(events[-1], RunFinished)
    assert len([e for e in events if isinstance(e, TextDelta)]) > 20
    assert not any(isinstance(e, TextReplace) for e in events)
    assert text_of(events) == reply_text("Hello Caddie", 1, started.conversation_id, None)
    request = workflow_chat.app.requests[-1]
    assert request["headers"]["authorization"] == "Bearer demo-key"
    assert request["body"] == {
        "message": "Hello Caddie",
        "conversationId": started.conversation_id,
        "requestId": started.run_id,
    }


async def test_second_turn_continues_the_conversation(workflow_chat):
    first = await reply(workflow_chat, "first")
    conversation_id = first[0].conversation_id
    second = await reply(workflow_chat, "second", conversation_id=conversation_id)

    assert second[0].conversation_id == conversation_id
    bodies = [r["body"] for r in workflow_chat.app.requests]
    assert bodies[0]["conversationId"] == bodies[1]["conversationId"] == conversation_id
    assert bodies[0]["requestId"] != bodies[1]["requestId"]
    assert "turn 2 of this conversation" in text_of(second)
    assert workflow_chat.app.conversations[conversation_id] == 2


async def test_agent_options_are_sent(workflow_chat):
    options = {
        "preferredMode": "building",
        "agentVersion": "v2",
        "templateSearchMode": "hybrid",
        "timezone": "Europe/Berlin",
        "workflowId": "wf_123",
        "definition": json.dumps(DEFINITION),
    }
    events = await reply(workflow_chat, "build it [[words=3]]", **options)

    assert isinstance(events[-1], RunFinished)
    body = workflow_chat.app.requests[-1]["body"]
    assert {k: body[k] for k in options if k != "definition"} == {
        k: v for k, v in options.items() if k != "definition"
    }
    assert body["definition"] == DEFINITION


async def test_invalid_agent_options_are_refused_before_any_request(workflow_chat):
    _, error = await failed_reply(workflow_chat, "hi", preferredMode="chaos", timezone="Mars/Olympus")

    assert "need fixing by an admin" in error.message
    assert "preferredMode" in error.message
    assert "Mars/Olympus" in error.message
    assert workflow_chat.app.requests == []


def test_validate_definition():
    assert validate_definition(None) == []
    assert validate_definition(DEFINITION) == []
    assert validate_definition(json.dumps(DEFINITION)) == []
    assert validate_definition("{not json") == ["The definition is not valid JSON."]
    assert validate_definition([1]) == ["The definition must be a JSON object."]
    assert "must hold “nodes”" in validate_definition({"edges": []})[0]
    assert validate_definition({"nodes": {"start": {"type": "manual"}}}) == [
        "The definition has no “root” node."
    ]
    assert validate_definition({"nodes": {"root": {"type": "cron"}}}) == [
        "The “root” node must be of type “manual”, not “cron”."
    ]
    assert validate_definition({"nodes": {"root": {"type": "manual", "children": ["gone"]}}}) == [
        "Node “root” names a child “gone” that is not in “nodes”."
    ]
    assert validate_options({"agentVersion": "both", "templateSearchMode": "lightweight"}) == []
    assert len(validate_options({"agentVersion": "v3", "definition": {"nodes": {}}})) == 2


async def test_tool_events(workflow_chat):
    events = await reply(workflow_chat, "look it up [[tool]] [[words=4]]")

    started, finished = events[2], events[3]
    assert isinstance(started, ToolStarted)
    assert started.name == "search_templates"
    assert started.id.startswith(events[0].run_id[:8])
    assert finished == ToolFinished(id=started.id, result='{"matches": 2}')
    assert len(text_of(events).split()) == 4


@pytest.mark.parametrize("shapes", ["", "[[legacy]]"], ids=["client-types", "legacy"])
async def test_workflow_result_is_summarised(workflow_chat, shapes):
    events = await reply(workflow_chat, f"alert me when ETH moves [[workflow]] {shapes} [[words=3]]")

    activities = [e.text for e in events if isinstance(e, Activity)]
    assert activities == [
        "Switched to building mode",
        "Reading your message",
        "Workflow node: Start manually (manual)",
        "Workflow node: Fetch the ETH price (http_request)",
        "Workflow node: Send a Telegram message (send_telegram)",
    ]
    summary = events[-2].text
    assert summary.startswith("\n\n**Workflow: Price alert**")
    assert "Nodes (3):\n- `root` (manual): Start manually\n- `fetch_price` (http_request)" in summary
    assert "Fields still to fill in:\n- notify.chatId" in summary
    assert "Validation errors:\n- notify: chatId is required" in summary
    assert isinstance(events[-1], RunFinished)
    assert "rows" not in repr(events)


@pytest.mark.parametrize("shapes", ["", "[[legacy]]"], ids=["client-types", "legacy"])
async def test_a_tool_both_streamed_and_counted_in_done_is_shown_once(workflow_chat, shapes):
    events = await reply(workflow_chat, f"look [[tool]] {shapes} [[words=3]]")

    assert [e.name for e in events if isinstance(e, ToolStarted)] == ["search_templates"]


async def test_a_tool_named_only_in_tool_utilization_is_shown_as_a_tool_call():
    body = (
        b'data: {"type": "chunk", "data": "Done."}\n\n'
        b'data: {"type": "done", "data": {"type": "message", "message": "Done."}, "toolUtilization": '
        b'[{"toolName": "search_templates", "callCount": 2, "score": 0.9}, '
        b'{"toolName": "unused", "callCount": 0, "score": 0}]}\n\n'
    )
    with ServedApp(SseApp(body)) as served:
        events = await reply(FakePlatform(served), "hi")

    tools = [e for e in events if isinstance(e, ToolStarted | ToolFinished)]
    assert [type(e) for e in tools] == [ToolStarted, ToolFinished]
    assert tools[0].name == "search_templates"
    assert isinstance(events[-1], RunFinished)


async def test_named_event_lines(workflow_chat):
    events = await reply(workflow_chat, "[[named]] [[tool]] [[words=5]]")

    assert [type(e) for e in events] == [
        RunStarted,
        Activity,
        ToolStarted,
        ToolFinished,
        *[TextDelta] * 5,
        RunFinished,
    ]


async def test_stopping_the_reply_closes_the_upstream_stream(workflow_chat):
    events = provider(workflow_chat).stream_reply(Turn("slowly [[words=50]] [[delay=0.05]]", ALICE))
    deltas = 0
    async for event in events:
        deltas += isinstance(event, TextDelta)
        if deltas == 3:
            break
    await events.aclose()

    for _ in range(100):
        if workflow_chat.app.active_streams == 0:
            break
        await asyncio.sleep(0.02)
    assert workflow_chat.app.active_streams == 0


# --- Replay after a broken connection --------------------------------------------------------


@pytest.mark.parametrize("mode", ["drop", "drop@1", "drop@4", "reset", "reset@7", "drop@15"])
async def test_broken_connection_is_resumed_without_gap_or_duplicate(workflow_chat, mode):
    events = await reply(workflow_chat, f"tell me more [[tool]] [[words=12]] [[fail:{mode}]]")

    started = events[0]
    retries = [e for e in events if isinstance(e, Retrying)]
    assert len(retries) == 1
    assert retries[0].attempt == 1
    assert "resuming the reply" in retries[0].reason
    assert text_of(events) == reply_text("tell me more", 1, started.conversation_id, 12)
    assert [type(e) for e in events if isinstance(e, ToolStarted | ToolFinished)] == [
        ToolStarted,
        ToolFinished,
    ]
    assert isinstance(events[-1], RunFinished)
    first, again = workflow_chat.app.requests
    received = workflow_chat.app.sessions[started.run_id].break_after
    assert again["body"] == {
        "conversationId": started.conversation_id,
        "requestId": started.run_id,
        "lastEventIndex": received,
    }
    assert first["body"]["requestId"] == started.run_id
    assert workflow_chat.app.conversations[started.conversation_id] == 1


async def test_another_adapter_resumes_a_reply_from_a_resume_point_without_gap_or_duplicate(workflow_chat):
    """What a process taking over a dead one's reply does: replay after the point its checkpoint saved."""
    events = provider(workflow_chat).stream_reply(Turn("Plan it [[words=40]] [[delay=0]]", ALICE))
    before, point = "", None
    async with aclosing(events):
        async for event in events:
            if isinstance(event, TextDelta):
                before += event.text
            elif isinstance(event, ResumePoint) and len(before) > 40:
                point = event.data
                break
    assert point is not None and point["received"] > 0

    resumed = provider(workflow_chat).stream_reply(Turn("", ALICE, resume_from={**point, "text": before}))
    after = [event async for event in resumed]
    assert isinstance(after[-1], RunFinished)
    assert before + text_of(after) == reply_text_of_session(workflow_chat, point["request_id"])
    replay = stream_requests(workflow_chat)[-1]["body"]
    assert replay == {
        "conversationId": point["conversation_id"],
        "requestId": point["request_id"],
        "lastEventIndex": point["received"],
    }


def reply_text_of_session(fake, request_id: str) -> str:
    return "".join(e["data"] for e in fake.app.sessions[request_id].events if e["type"] == "chunk")


async def test_replay_that_keeps_failing_ends_incomplete(workflow_chat):
    events, error = await failed_reply(workflow_chat, "[[words=10]] [[fail:drop_always]]")

    assert "could not be resumed" in error.message
    assert "incomplete" in error.message
    assert [e.attempt for e in events if isinstance(e, Retrying)] == [1, 2, 3]
    delays = [e.delay for e in events if isinstance(e, Retrying)]
    assert delays[0] < delays[2]
    assert len(workflow_chat.app.requests) == 4
    assert 0 < len(text_of(events).split()) < 10
    assert not any(isinstance(e, RunFinished) for e in events)


async def test_replay_the_platform_no_longer_knows(workflow_chat):
    events = []
    with pytest.raises(UpstreamError) as info:
        async for event in provider(workflow_chat).stream_reply(Turn("[[words=10]] [[fail:drop]]", ALICE)):
            events.append(event)
            if isinstance(event, Retrying):
                workflow_chat.app.sessions.clear()

    assert "resuming the reply failed; the reply is incomplete" in info.value.message
    assert info.value.status == 404
    assert len(text_of(events).split()) < 10


class RepeatingApp:
    """Breaks the first connection after two events, then replays from the start, repeats and all."""

    def __init__(self):
        self.bodies = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        self.bodies.append(json.loads((await receive())["body"]))
        frames = [{"type": "chunk", "data": word, "index": i} for i, word in enumerate(["a", " b", " c"], 1)]
        frames.append({"type": "done", "data": {"type": "message", "message": "a b c"}, "index": 4})
        if len(self.bodies) == 1:
            frames = frames[:2]
        body = "".join(f"id: {f['index']}\ndata: {json.dumps(f)}\n\n" for f in frames).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def test_replayed_events_already_received_are_skipped():
    app = RepeatingApp()
    with ServedApp(app) as served:
        events = await reply(FakePlatform(served), "hi")

    assert [type(e) for e in events] == [RunStarted, TextDelta, TextDelta, Retrying, TextDelta, RunFinished]
    assert text_of(events) == "a b c"
    assert app.bodies[1]["lastEventIndex"] == 2
    assert "message" not in app.bodies[1]


async def test_first_request_that_cannot_connect_is_not_replayed():
    adapter = WorkflowChatProvider(Connection("http://127.0.0.1:9", "demo-key"))
    events = []
    with pytest.raises(UpstreamError) as info:
        async for event in adapter.stream_reply(Turn("hi", ALICE)):
            events.append(event)

    assert "Could not connect to Workflow chat" in info.value.message
    assert info.value.retryable
    assert [type(e) for e in events] == [RunStarted]


# --- Failures the platform reports -----------------------------------------------------------


async def test_error_event_carries_the_platforms_message(workflow_chat):
    events, error = await failed_reply(workflow_chat, "[[fail:error]] [[words=10]]")

    assert error.message == f"Workflow chat reported an error: {ERROR_MESSAGE}"
    assert not error.retryable
    assert len(text_of(events).split()) == 5


@pytest.mark.parametrize(
    ("status", "words", "retryable"),
    [
        (400, "did not accept the request (HTTP 400). The platform said: Bad Request", False),
        (401, "rejected this credential (HTTP 401)", False),
        (403, "refused access", False),
        (404, "does not know this agent or address (HTTP 404)", False),
        (429, "rate limiting", True),
        (500, "server error (HTTP 500). Try again in a moment.", False),
        (502, "server error (HTTP 502)", True),
        (503, "server error (HTTP 503)", True),
    ],
)
async def test_http_errors(workflow_chat, status, words, retryable):
    events, error = await failed_reply(workflow_chat, f"hi [[fail:{status}]]")

    assert words in error.message
    assert "<" not in error.message
    assert error.status == status
    assert error.retryable is retryable
    assert [type(e) for e in events] == [RunStarted]


async def test_rejected_key(workflow_chat):
    _, error = await failed_reply(workflow_chat, "hi", key="wrong-key")

    assert "rejected this credential" in error.message
    assert error.status == 401


async def test_platform_refusing_the_definition(workflow_chat):
    # An admin option the adapter cannot check (a list of nodes) but the platform refuses.
    definition = {"nodes": [{"id": "root", "type": "manual"}]}
    _, error = await failed_reply(workflow_chat, "hi", definition=definition)

    assert error.status == 400
    assert "definition.nodes is required" in error.message


# --- Broken streams --------------------------------------------------------------------------


async def test_heartbeats_keep_a_slow_reply_alive(workflow_chat, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.5
    workflow_chat.app.heartbeat_interval = 0.1
    workflow_chat.app.heartbeat_pause = 1.5
    events = await reply(workflow_chat, "[[fail:heartbeat]] [[words=6]]")

    assert [type(e) for e in events] == [RunStarted, Activity, *[TextDelta] * 6, RunFinished]
    assert len(workflow_chat.app.requests) == 1


async def test_silent_stream_times_out_without_replay(workflow_chat, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.5
    events, error = await failed_reply(workflow_chat, "[[fail:hang]] [[words=10]]")

    assert "stopped sending for too long" in error.message
    assert len([e for e in events if isinstance(e, TextDelta)]) == 2
    assert len(workflow_chat.app.requests) == 1


async def test_malformed_frame(workflow_chat):
    events, error = await failed_reply(workflow_chat, "[[fail:malformed]] [[words=10]]")

    assert "not valid JSON" in error.message
    assert len(text_of(events).split()) == 5


async def test_unknown_event_type_is_dropped(workflow_chat):
    events = await reply(workflow_chat, "[[fail:unknown]] [[words=6]]")

    assert [type(e) for e in events] == [RunStarted, Activity, *[TextDelta] * 6, RunFinished]
    assert "<script>" not in repr([e.to_dict() for e in events])


async def test_final_message_replaces_differing_text():
    frames = [
        {"type": "chunk", "data": "Draft"},
        {"type": "done", "data": {"type": "message", "message": "The final answer."}},
    ]
    with ServedApp(SseApp("".join(f"data: {json.dumps(f)}\n\n" for f in frames).encode())) as served:
        events = await reply(FakePlatform(served), "hi")

    assert events[1:] == [TextDelta(text="Draft"), TextReplace(text="The final answer."), RunFinished()]


# --- The golden transcript -------------------------------------------------------------------


class SseApp:
    """Serves one fixed SSE body to every request."""

    def __init__(self, body: bytes):
        self.body = body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        await receive()
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


async def test_golden_transcript_through_the_adapter():
    with ServedApp(SseApp(GOLDEN.read_bytes())) as served:
        events = await reply(FakePlatform(served), "Plan a price alert", conversation_id=GOLDEN_CONVERSATION)

    assert events[0].conversation_id == GOLDEN_CONVERSATION
    kinds = [type(e) for e in events]
    assert kinds[:4] == [RunStarted, Activity, ToolStarted, ToolFinished]
    assert kinds[4:-1] == [TextDelta] * 75
    assert kinds[-1] is RunFinished
    assert text_of(events) == reply_text("Plan a price alert", 1, GOLDEN_CONVERSATION, None)


async def test_fake_still_sends_the_golden_transcript(workflow_chat):
    body = {"message": GOLDEN_MESSAGE, "conversationId": GOLDEN_CONVERSATION, "requestId": GOLDEN_REQUEST}
    async with httpx.AsyncClient() as client:
        response = await client.post(
            workflow_chat.url + PATH, json=body, headers={"Authorization": "Bearer demo-key"}
        )

    assert response.content == GOLDEN.read_bytes()


# --- Checking a credential -------------------------------------------------------------------


async def test_check_connection(workflow_chat):
    sentence = await provider(workflow_chat).check_connection()

    assert sentence.startswith("Connected to Workflow chat: the key was accepted")
    request = workflow_chat.app.requests[-1]
    assert request["path"] == PATH
    assert request["body"] == {}
    assert request["headers"]["authorization"] == "Bearer demo-key"


async def test_check_connection_with_a_rejected_key(workflow_chat):
    with pytest.raises(UpstreamError, match="rejected this credential"):
        await provider(workflow_chat, key="wrong-key").check_connection()


async def test_check_connection_with_a_wrong_base_url(workflow_chat):
    adapter = WorkflowChatProvider(Connection(workflow_chat.url + "/nowhere", "demo-key"))
    with pytest.raises(UpstreamError, match="HTTP 404"):
        await adapter.check_connection()
