"""The AgentWeave adapter over real HTTP against the fake platform."""

import asyncio
import hashlib
import json
import re

import httpx
import pytest

from agents.fakes.agentweave import COMPLETED_CORRECTION
from agents.providers.agentweave import AgentWeaveProvider, validate_options
from agents.providers.base import AgentSpec, Connection, Turn, TurnFile, UpstreamError, UserRef
from agents.providers.events import RunFinished, RunStarted, TextDelta, TextReplace
from agents.providers.http import upstream_client
from tests.fakes import FIXTURES, ServedApp, verbatim_app

ALICE = UserRef(1, "alice", "a@x")
AGENT = "agent_demo_weaver"
GOLDEN = FIXTURES / "agentweave" / "normal.sse"
ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def agentweave(fake_platform):
    return fake_platform("agentweave")


@pytest.fixture(autouse=True)
async def fresh_client():
    yield
    await upstream_client().aclose()


def provider(fake, *, key="demo-key", agent=AGENT, **options) -> AgentWeaveProvider:
    return AgentWeaveProvider(Connection(fake.url, key), AgentSpec(agent, options))


async def reply(fake, text, *, thread_id="", **kwargs):
    turn = Turn(text, user=ALICE, upstream_conversation_id=thread_id)
    return [event async for event in provider(fake, **kwargs).stream_reply(turn)]


async def failed_reply(fake, text, *, thread_id="", **kwargs):
    """The events yielded before the reply failed, and the error."""
    events = []
    turn = Turn(text, user=ALICE, upstream_conversation_id=thread_id)
    with pytest.raises(UpstreamError) as info:
        async for event in provider(fake, **kwargs).stream_reply(turn):
            events.append(event)
    return events, info.value


def streamed_text(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def final_text(events) -> str:
    """What the page shows at the end: the deltas, replaced by any TextReplace."""
    text = ""
    for event in events:
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, TextReplace):
            text = event.text
    return text


# --- Replies ---------------------------------------------------------------------------------


async def test_reply(agentweave):
    events = await reply(agentweave, "Hello agent")

    started = events[0]
    assert isinstance(started, RunStarted)
    assert ULID.match(started.conversation_id)
    assert isinstance(events[-1], RunFinished)
    assert isinstance(events[-2], TextReplace)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 20
    text = streamed_text(events)
    assert text.startswith("This is a simulated AgentWeave agent")
    assert "“Hello agent”" in text
    assert "turn 1 of this thread" in text
    assert started.conversation_id in text
    assert events[-2].text == text
    request = agentweave.app.requests[-1]
    assert request["path"] == f"/api/v1/chat/agent/{AGENT}"
    assert request["headers"]["authorization"] == "demo-key"
    body = request["body"]
    assert UUID4.match(body.pop("id"))
    assert body == {"content": "Hello agent", "type": "text"}


async def test_each_message_gets_a_new_uuid4(agentweave):
    await reply(agentweave, "one [[words=2]]")
    await reply(agentweave, "two [[words=2]]")

    first, second = (r["body"]["id"] for r in agentweave.app.requests[-2:])
    assert UUID4.match(first)
    assert UUID4.match(second)
    assert first != second


async def test_second_turn_continues_the_thread(agentweave):
    first = await reply(agentweave, "first")
    thread_id = first[0].conversation_id
    second = await reply(agentweave, "second", thread_id=thread_id)

    assert "thread_id" not in agentweave.app.requests[-2]["body"]
    assert agentweave.app.requests[-1]["body"]["thread_id"] == thread_id
    assert second[0] == RunStarted(conversation_id=thread_id)
    assert "turn 2 of this thread" in final_text(second)
    assert agentweave.app.threads[thread_id] == 2


async def test_completed_text_replaces_the_deltas(agentweave):
    events = await reply(agentweave, "fix it up [[completed-differs]] [[words=6]]")

    streamed = streamed_text(events)
    assert len(streamed.split()) == 6
    replace = events[-2]
    assert isinstance(replace, TextReplace)
    assert replace.text == streamed + COMPLETED_CORRECTION
    assert final_text(events) == replace.text
    assert isinstance(events[-1], RunFinished)


async def test_agent_options_are_sent(agentweave):
    await reply(agentweave, "bill the org [[words=2]]", type="media", org_id="org_42", pay_account="Org")

    body = agentweave.app.requests[-1]["body"]
    assert body["type"] == "media"
    assert body["org_id"] == "org_42"
    assert body["pay_account"] == "Org"


async def test_invalid_options_are_refused_before_any_request(agentweave):
    _, error = await failed_reply(agentweave, "hi", org_id="org_42")

    assert "pay_account is required when org_id is set" in error.message
    assert "admin" in error.message
    assert agentweave.app.requests == []


@pytest.mark.parametrize(
    ("options", "problems"),
    [
        ({}, []),
        ({"type": "text"}, []),
        ({"type": "media", "org_id": "o1", "pay_account": "Person"}, []),
        ({"org_id": "", "pay_account": ""}, []),
        ({"type": "video"}, ["type must be “text” or “media”, not 'video'."]),
        ({"org_id": "o1"}, ["pay_account is required when org_id is set: “Person” or “Org”."]),
        ({"org_id": "o1", "pay_account": "org"}, ["pay_account must be “Person” or “Org”, not 'org'."]),
        (
            {"pay_account": "Org"},
            ["pay_account only applies together with org_id: set org_id or clear pay_account."],
        ),
        ({"org_id": 7}, ["org_id must be text."]),
    ],
)
def test_validate_options(options, problems):
    assert validate_options(options) == problems


async def test_empty_message_is_refused_before_any_request(agentweave):
    _, error = await failed_reply(agentweave, "   ")

    assert error.message == "Write a message first."
    assert agentweave.app.requests == []


# --- Failures the platform reports -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "said", "retryable"),
    [
        (400000, "Invalid request parameters.", False),
        (402000, "Insufficient credits.", False),
        (403000, "No permission to use this agent.", False),
        (429000, "Too many requests, please try again later.", True),
        (500000, "Internal server error.", False),
        (503000, "The agent is temporarily unavailable.", True),
    ],
)
async def test_error_frame_carries_the_platforms_message(agentweave, code, said, retryable):
    events, error = await failed_reply(agentweave, f"[[fail:code={code}]] [[words=10]]")

    assert error.message == f"AgentWeave reported an error (code {code}): {said}"
    assert not error.retryable, "the agent began answering: sending again would answer twice"
    assert error.status == code // 1000
    assert len(streamed_text(events).split()) == 5
    assert not any(isinstance(e, RunFinished | TextReplace) for e in events)

    events, error = await failed_reply(agentweave, f"[[fail:code={code}]] [[words=1]]")

    assert events == []
    assert error.message == f"AgentWeave reported an error (code {code}): {said}"
    assert error.retryable is retryable


@pytest.mark.parametrize("action", ["send_message.error", "send_message.completed", "send_message.delta"])
async def test_error_frame_fails_whatever_its_action(agentweave, action):
    agentweave.app.error_action = action
    _, error = await failed_reply(agentweave, "[[fail:code=402000]] [[words=4]]")

    assert "Insufficient credits." in error.message


async def test_error_frame_before_any_text(agentweave):
    events, error = await failed_reply(agentweave, "[[fail:code=402000]] [[words=1]]")

    assert events == []
    assert "(code 402000): Insufficient credits." in error.message


async def test_rejected_key(agentweave):
    events, error = await failed_reply(agentweave, "hi", key="wrong-key")

    assert events == []
    assert "rejected this credential" in error.message
    assert error.status == 401
    assert not error.retryable


async def test_key_is_sent_without_bearer(agentweave):
    _, error = await failed_reply(agentweave, "hi", key="Bearer demo-key")

    assert error.status == 401


async def test_unknown_agent(agentweave):
    _, error = await failed_reply(agentweave, "hi", agent="missing-agent")

    assert error.status == 404
    assert "does not know this agent" in error.message
    assert "Agent not found." in error.message


async def test_refused_request_quotes_the_result_envelope(agentweave):
    _, error = await failed_reply(agentweave, "hi", thread_id="not-a-ulid")

    assert error.status == 400
    assert "did not accept the request" in error.message
    assert "thread_id must be a ULID." in error.message


async def test_rate_limit_is_retryable(agentweave):
    _, error = await failed_reply(agentweave, "hi [[fail:429]]")

    assert error.status == 429
    assert "rate limiting" in error.message
    assert error.retryable
    assert error.retry_after == 1


@pytest.mark.parametrize(("status", "retryable"), [(500, False), (503, True)])
async def test_server_errors(agentweave, status, retryable):
    _, error = await failed_reply(agentweave, f"hi [[fail:{status}]]")

    assert error.status == status
    assert f"server error (HTTP {status})" in error.message
    assert error.retryable is retryable


# --- Broken and slow streams -----------------------------------------------------------------


async def test_heartbeats_are_ignored(agentweave):
    events = await reply(agentweave, "[[fail:heartbeat]] [[words=6]]")

    assert [type(e) for e in events] == [RunStarted, *[TextDelta] * 6, TextReplace, RunFinished]


async def test_heartbeats_keep_a_slow_stream_alive(agentweave, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.4
    agentweave.app.heartbeat_interval = 0.1
    events = await reply(agentweave, "take your time [[delay=0.7]] [[words=3]]")

    assert isinstance(events[-1], RunFinished)
    assert len(streamed_text(events).split()) == 3


async def test_silent_stream_times_out(agentweave, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.4
    events, error = await failed_reply(agentweave, "[[fail:hang]]")

    assert "stopped sending for too long" in error.message
    assert not error.retryable
    assert len([e for e in events if isinstance(e, TextDelta)]) == 3


async def test_stream_dropped_mid_reply(agentweave):
    events, error = await failed_reply(agentweave, "[[fail:drop]] [[words=10]]")

    assert "before the reply was completed; the reply is incomplete" in error.message
    assert not error.retryable, "the platform began answering: sending again would answer twice"
    assert len(streamed_text(events).split()) == 5
    assert not any(isinstance(e, RunFinished) for e in events)


async def test_connection_cut_mid_reply(agentweave):
    events, error = await failed_reply(agentweave, "[[fail:reset]] [[words=10]]")

    assert "incomplete" in error.message
    assert len(streamed_text(events).split()) == 5


async def test_malformed_frame(agentweave):
    events, error = await failed_reply(agentweave, "[[fail:malformed]] [[words=10]]")

    assert "not valid JSON" in error.message
    assert len(streamed_text(events).split()) == 5


async def test_unknown_action_is_dropped(agentweave):
    events = await reply(agentweave, "[[fail:unknown]] [[words=6]]")

    assert [type(e) for e in events] == [RunStarted, *[TextDelta] * 6, TextReplace, RunFinished]
    assert "<script>" not in repr([e.to_dict() for e in events])


async def test_byte_order_mark_does_not_lose_the_first_frame(agentweave):
    events = await reply(agentweave, "[[fail:bom]] [[words=6]]")

    assert isinstance(events[0], RunStarted)
    assert len(streamed_text(events).split()) == 6


async def test_huge_frame_fails_the_reply(agentweave):
    events, error = await failed_reply(agentweave, "[[fail:huge]] [[words=10]]")

    assert "larger than 1024 KiB" in error.message
    assert len(streamed_text(events).split()) == 5


# --- Tolerance for what the document leaves open ---------------------------------------------


def frame(data) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


async def replay(body: bytes, **kwargs):
    with ServedApp(verbatim_app(body, **kwargs)) as served:
        provider = AgentWeaveProvider(Connection(served.url, "demo-key"), AgentSpec(AGENT))
        return [event async for event in provider.stream_reply(Turn("hi", user=ALICE))]


OK = {"code": 201000, "message": "Successfully."}


async def test_pretty_printed_frames_and_string_codes_and_top_level_thread_id():
    pretty = json.dumps(
        {"action": "send_message.delta", "message": {"content": "Hi"}, "result": OK}, indent=2
    )
    body = (
        b"".join(b"data: " + line.encode() + b"\n" for line in pretty.splitlines())
        + b"\n"
        + frame(
            {
                "action": "send_message.completed",
                "thread_id": "01KATMZEAPX5201F9X5SBKKH6N",
                "message": {"content": "Hi there"},
                "result": {"code": "201000", "message": "Successfully."},
            }
        )
    )
    events = await replay(body)

    assert events == [
        TextDelta("Hi"),
        RunStarted(conversation_id="01KATMZEAPX5201F9X5SBKKH6N"),
        TextReplace("Hi there"),
        RunFinished(),
    ]


async def test_empty_completed_content_keeps_the_streamed_text():
    body = frame({"action": "send_message.delta", "message": {"content": "Hi"}, "result": OK}) + frame(
        {"action": "send_message.completed", "message": {"content": ""}, "result": OK}
    )

    assert await replay(body) == [TextDelta("Hi"), RunFinished()]


async def test_json_refusal_with_a_success_status():
    body = json.dumps({"result": {"code": 402000, "message": "Insufficient credits."}}).encode()
    with pytest.raises(UpstreamError, match=r"\(code 402000\): Insufficient credits\."):
        await replay(body, content_type=b"application/json")


# --- The golden transcript -------------------------------------------------------------------


async def test_golden_transcript():
    events = await replay(GOLDEN.read_bytes())

    thread_id = "01M842Y4VGST5B5TAWJF50JW62"
    assert events[0] == RunStarted(conversation_id=thread_id)
    assert [type(e) for e in events[1:-2]] == [TextDelta] * (len(events) - 3)
    assert isinstance(events[-2], TextReplace)
    assert events[-1] == RunFinished()
    text = streamed_text(events)
    assert text == events[-2].text
    assert text.startswith("This is a simulated AgentWeave agent, not a real model. This is turn 1")
    assert "“Hello golden”" in text
    assert f"- this thread is `{thread_id}`" in text
    assert "| 1 | 12 | 2 |" in text


def frame_shapes(raw: bytes) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """Each frame's action and key sets, without the values that change from run to run."""
    shapes = []
    for block in raw.decode().split("\n\n"):
        if block.startswith("data: "):
            data = json.loads(block[6:])
            shapes.append((data["action"], tuple(data), tuple(data.get("message", {}))))
    return shapes


async def test_the_fake_still_matches_the_golden_transcript(agentweave):
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{agentweave.url}/api/v1/chat/agent/{AGENT}",
            headers={"Authorization": "demo-key"},
            json={"content": "Hello golden", "type": "text", "id": "d6be96fa-5a90-4c11-a661-d7ae96a368eb"},
        )

    assert response.headers["content-type"].startswith("text/event-stream")
    assert frame_shapes(response.content) == frame_shapes(GOLDEN.read_bytes())


# --- Checking a credential or an agent -------------------------------------------------------


async def test_check_connection_with_an_agent_runs_no_turn(agentweave):
    sentence = await provider(agentweave).check_connection()

    assert sentence.startswith("AgentWeave accepted the key")
    assert "no agent turn ran" in sentence
    assert agentweave.app.requests[-1]["body"]["content"] == ""
    assert agentweave.app.requests[-1]["path"].endswith(f"/chat/agent/{AGENT}")
    assert agentweave.app.threads == {}


async def test_a_real_turn_check_shows_what_the_agent_answered(agentweave):
    sentence = await provider(agentweave).check_with_real_turn()

    assert sentence.startswith("Connected to AgentWeave: the agent answered “This is a simulated AgentWeave")
    (thread_id,) = agentweave.app.threads
    assert f"in thread {thread_id}." in sentence
    assert agentweave.app.requests[-1]["headers"]["authorization"] == "demo-key"


async def test_check_connection_of_a_credential_alone(agentweave):
    sentence = await AgentWeaveProvider(Connection(agentweave.url, "demo-key")).check_connection()

    assert sentence.startswith("AgentWeave accepted the key")
    assert agentweave.app.requests[-1]["body"]["content"] == ""
    assert agentweave.app.threads == {}


@pytest.mark.parametrize("with_agent", [True, False])
async def test_check_connection_with_a_rejected_key(agentweave, with_agent):
    checked = (
        provider(agentweave, key="wrong-key")
        if with_agent
        else AgentWeaveProvider(Connection(agentweave.url, "wrong-key"))
    )
    with pytest.raises(UpstreamError, match="rejected this credential"):
        await checked.check_connection()


async def test_the_fake_notices_a_client_going_away(agentweave):
    agentweave.app.heartbeat_interval = 0.1
    turn = Turn("slow [[delay=0.3]] [[words=50]]", user=ALICE)
    events = provider(agentweave).stream_reply(turn)
    async for event in events:
        if isinstance(event, TextDelta):
            break
    await events.aclose()
    assert agentweave.app.active_replies == 1

    for _ in range(100):
        if agentweave.app.active_replies == 0:
            break
        await asyncio.sleep(0.02)
    assert agentweave.app.active_replies == 0


# --- Uploading a file ------------------------------------------------------------------------


def uploading_provider(fake, key="demo-key") -> AgentWeaveProvider:
    connection = Connection(fake.url, key, {"upload_url": fake.url + "/upload_file"})
    return AgentWeaveProvider(connection, AgentSpec(AGENT))


async def test_upload_a_file_and_send_it_with_a_turn(agentweave):
    data = b"name,amount\nalice,3\n"
    uploaded = await uploading_provider(agentweave).upload_file("sales.csv", data, "text/csv")

    asked = agentweave.app.requests[-2]
    assert asked["path"] == "/upload_file"
    assert asked["headers"]["authorization"] == "demo-key"
    assert asked["body"] == {
        "request_type": "upload_file",
        "request_data": {
            "agent_id": AGENT,
            "file_name": "sales.csv",
            "file_type": "text/csv",
            "file_size": len(data),
            "hash": hashlib.sha256(data).hexdigest(),
            "category": "chat",
        },
    }
    put = agentweave.app.requests[-1]
    assert put["method"] == "PUT"
    assert "authorization" not in put["headers"], "the key stays with the platform, not the storage"
    async with httpx.AsyncClient() as client:
        assert (await client.get(uploaded.file_url)).content == data
    assert ULID.match(uploaded.thread_id)

    sales = TurnFile(
        "sales", "sales.csv", "text/csv", len(data), hashlib.sha256(data).hexdigest(), lambda: data
    )
    turn = Turn("what is in it?", user=ALICE, upstream_conversation_id=uploaded.thread_id, files=(sales,))
    provider = uploading_provider(agentweave)
    provider.uploaded[sales.id] = uploaded.file_url  # uploaded above: not uploaded again
    events = [e async for e in provider.stream_reply(turn)]

    assert agentweave.app.requests[-1]["body"]["file"] == {"file_url": uploaded.file_url}
    assert events[0] == RunStarted(conversation_id=uploaded.thread_id)
    assert f"- you attached “sales.csv” ({len(data)} bytes)" in final_text(events)


async def test_upload_into_an_existing_thread(agentweave):
    thread_id = (await reply(agentweave, "hello [[words=2]]"))[0].conversation_id
    uploaded = await uploading_provider(agentweave).upload_file("a.txt", b"x", "text/plain", thread_id)

    assert agentweave.app.requests[-2]["body"]["request_data"]["thread_id"] == thread_id
    assert uploaded.thread_id == thread_id


async def test_upload_with_a_rejected_key(agentweave):
    with pytest.raises(UpstreamError, match="rejected this credential"):
        await uploading_provider(agentweave, key="wrong-key").upload_file("a.txt", b"x", "text/plain")


async def test_upload_refused_by_the_platform(agentweave):
    with pytest.raises(UpstreamError, match="did not accept the request") as info:
        await uploading_provider(agentweave).upload_file("empty.txt", b"", "text/plain")

    assert "file_size must be between 1 and" in info.value.message


def test_agent_option_problems_for_the_admin_form():
    assert (
        AgentWeaveProvider.agent_option_problems({"type": "media", "org_id": "o", "pay_account": "Org"}) == []
    )
    problems = AgentWeaveProvider.agent_option_problems({"org_id": "o", "colour": "red"})

    assert problems[0].startswith("AgentWeave agents have no option 'colour'")
    assert problems[1] == "pay_account is required when org_id is set: “Person” or “Org”."
