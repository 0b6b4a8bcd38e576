"""The A2A adapter over real HTTP against a real A2A server: the official `a2a-sdk` server app
with a scripted AgentExecutor (agents.fakes.a2a), in A2A 1.0 and 0.3."""

import asyncio
import base64
import hashlib
import json
from contextlib import aclosing

import pytest

from agents.fakes.a2a import QUESTION, REPORT_NAME
from agents.providers import a2a
from agents.providers.a2a import QUESTION_ACTION, A2AProvider
from agents.providers.base import AgentSpec, Connection, Turn, TurnFile, UpstreamError, UserRef
from agents.providers.events import (
    Activity,
    ApprovalRequested,
    RunFinished,
    RunStarted,
    TextDelta,
)
from tests.fakes import FakePlatform, ServedApp, verbatim_app

ALICE = UserRef(1, "alice", "alice@example.com")


@pytest.fixture
def agent(fake_platform):
    a2a._cards.clear()
    yield fake_platform("a2a")
    a2a._cards.clear()


def provider(agent: FakePlatform, upstream_id: str = "agent", **options) -> A2AProvider:
    return A2AProvider(Connection(agent.url, "a2a-key", options), AgentSpec(upstream_id))


async def collect(provider: A2AProvider, turn: Turn) -> list:
    return [event async for event in provider.stream_reply(turn)]


def text_of(events: list) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def rpc_calls(agent: FakePlatform) -> list[dict]:
    return [r["body"] for r in agent.app.requests if r["method"] == "POST"]


async def test_connection_check_reads_the_agent_card(agent):
    said = await provider(agent).check_connection()

    assert "“Forecast demo”" in said
    assert "A2A 1.0 over JSON-RPC" in said
    assert "streams its replies" in said
    assert "Weather forecast, Forecast report" in said
    assert [r["path"] for r in agent.app.requests] == ["/.well-known/agent-card.json"]


async def test_import_lists_the_agent_itself_and_each_skill_of_its_card(agent):
    found = await provider(agent).list_agents()

    assert [(a.id, a.name) for a in found] == [
        ("agent", "Forecast demo"),
        ("forecast", "Forecast demo: Weather forecast"),
        ("report", "Forecast demo: Forecast report"),
    ]


async def test_a_streamed_reply_is_the_artifact_text_and_the_context_goes_with_the_next_message(agent):
    talk = provider(agent)
    events = await collect(talk, Turn(text="Hello there", user=ALICE))

    started = events[0]
    assert isinstance(started, RunStarted) and started.conversation_id and started.run_id
    assert Activity(text="Looking at the sky…") in events
    assert isinstance(events[-1], RunFinished)
    assert text_of(events).startswith("Hello from the simulated A2A agent. This is turn 1 of this context.")
    assert len([e for e in events if isinstance(e, TextDelta)]) > 20
    first = rpc_calls(agent)[0]
    assert first["method"] == "SendStreamingMessage"
    assert first["params"]["message"]["role"] == "ROLE_USER"
    assert "contextId" not in first["params"]["message"]
    assert agent.app.requests[-1]["headers"]["authorization"] == "Bearer a2a-key"
    assert agent.app.requests[-1]["headers"]["a2a-version"] == "1.0"

    events = await collect(
        talk, Turn(text="Again", user=ALICE, upstream_conversation_id=started.conversation_id)
    )

    assert "This is turn 2 of this context." in text_of(events)
    assert rpc_calls(agent)[-1]["params"]["message"]["contextId"] == started.conversation_id


async def test_input_required_asks_the_user_and_the_answer_continues_the_same_task(agent):
    talk = provider(agent)
    events = await collect(talk, Turn(text="Weather tomorrow? [[ask]]", user=ALICE))

    asked = events[-1]
    assert isinstance(asked, ApprovalRequested)
    assert asked.actions == [{"name": QUESTION_ACTION, "args": {}, "allowed": ["respond"]}]
    assert asked.request_id == events[0].run_id
    assert text_of(events) == QUESTION
    assert not any(isinstance(e, RunFinished) for e in events)

    answer = Turn(
        text="",
        user=ALICE,
        upstream_conversation_id=events[0].conversation_id,
        approval={"request_id": asked.request_id, "decisions": [{"type": "respond", "message": "Paris"}]},
    )
    events = await collect(talk, answer)

    assert text_of(events) == "The forecast for Paris: sunny, 21 °C."  # the relay adds the new paragraph
    assert isinstance(events[-1], RunFinished)
    sent = rpc_calls(agent)[-1]["params"]["message"]
    assert sent["taskId"] == asked.request_id
    assert sent["parts"] == [{"text": "Paris"}]


async def test_a_file_artifact_is_listed_as_a_link(agent):
    events = await collect(provider(agent), Turn(text="A report [[words=3]] [[file]]", user=ALICE))

    assert text_of(events) == (
        f"Hello from the\n\n**Files**\n\n- [{REPORT_NAME}]({agent.url}/files/{REPORT_NAME}) (text/csv)"
    )


async def test_a_failed_task_is_an_error_with_the_agents_words(agent):
    with pytest.raises(UpstreamError) as failed:
        await collect(provider(agent), Turn(text="Hello [[fail]]", user=ALICE))

    assert failed.value.message == "The agent could not finish the task: The forecast service is down."
    assert not failed.value.retryable


async def test_an_agent_on_a2a_0_3_is_spoken_to_with_message_stream(agent):
    agent.app.protocol_version = "0.3"
    talk = provider(agent)
    events = await collect(talk, Turn(text="Hello [[ask]]", user=ALICE))

    assert rpc_calls(agent)[0]["method"] == "message/stream"
    assert rpc_calls(agent)[0]["params"]["message"]["kind"] == "message"
    assert "a2a-version" not in agent.app.requests[-1]["headers"]
    asked = events[-1]
    assert isinstance(asked, ApprovalRequested) and text_of(events) == QUESTION

    answer = Turn(
        text="",
        user=ALICE,
        upstream_conversation_id=events[0].conversation_id,
        approval={"request_id": asked.request_id, "decisions": [{"type": "respond", "message": "Oslo"}]},
    )
    assert text_of(await collect(talk, answer)) == "The forecast for Oslo: sunny, 21 °C."


async def test_an_agent_that_does_not_stream_answers_with_one_whole_task(agent):
    agent.app.streaming = False
    events = await collect(provider(agent), Turn(text="Hello [[words=4]] [[file]]", user=ALICE))

    assert rpc_calls(agent)[0]["method"] == "SendMessage"
    assert text_of(events).startswith("Hello from the simulated\n\n**Files**")
    assert isinstance(events[-1], RunFinished)


async def test_stopping_a_reply_cancels_its_task_on_the_agent(agent):
    talk = provider(agent)
    async with aclosing(talk.stream_reply(Turn(text="Hello [[delay=0.2]]", user=ALICE))) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                break
    for _ in range(50):
        if agent.app.cancelled:
            break
        await asyncio.sleep(0.05)
    assert rpc_calls(agent)[-1]["method"] == "CancelTask"
    assert agent.app.cancelled == [rpc_calls(agent)[-1]["params"]["id"]]


async def test_a_skill_agent_names_its_skill_in_the_message_metadata(agent):
    await collect(provider(agent, "report"), Turn(text="Hi [[words=2]]", user=ALICE))

    assert rpc_calls(agent)[0]["params"]["message"]["metadata"] == {"skillId": "report"}


async def test_a_refused_key_and_a_missing_card_are_clear_errors(agent):
    agent.app.api_keys = {"the-right-key"}
    with pytest.raises(UpstreamError) as refused:
        await collect(provider(agent), Turn(text="Hello", user=ALICE))
    assert "rejected this credential (HTTP 401)" in refused.value.message

    missing = A2AProvider(Connection(agent.url + "/nowhere", "k"), AgentSpec("agent"))
    with pytest.raises(UpstreamError) as not_found:
        await missing.check_connection()
    assert "HTTP 404" in not_found.value.message
    assert [r["path"] for r in agent.app.requests[-2:]] == [
        "/nowhere/.well-known/agent-card.json",
        "/nowhere/.well-known/agent.json",
    ]


async def test_the_key_goes_in_the_header_the_credential_names(agent):
    await collect(provider(agent, key_header="X-API-Key"), Turn(text="Hi [[words=2]]", user=ALICE))

    headers = agent.app.requests[-1]["headers"]
    assert headers["x-api-key"] == "a2a-key"
    assert "authorization" not in headers


async def test_files_go_inline_as_raw_parts_with_their_name_and_type(agent):
    data = b"%PDF-1.4 a tiny report"
    report = TurnFile(
        id="f1",
        name="report.pdf",
        content_type="application/pdf",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        read=lambda: data,
    )
    events = await collect(provider(agent), Turn(text="Read this", user=ALICE, files=(report,)))

    assert f"you sent report.pdf (application/pdf, {len(data)} bytes)" in text_of(events)
    parts = rpc_calls(agent)[0]["params"]["message"]["parts"]
    assert parts == [
        {"text": "Read this"},
        {"raw": base64.b64encode(data).decode(), "mediaType": "application/pdf", "filename": "report.pdf"},
    ]


async def test_a_card_that_sends_messages_to_another_address_is_refused_before_the_key_goes_there(agent):
    agent.app.interface_url = agent.url.replace("127.0.0.1", "localhost") + "/"

    with pytest.raises(UpstreamError) as refused:
        await collect(provider(agent), Turn(text="Hello", user=ALICE))

    assert "another address than the credential's base URL" in refused.value.message
    assert [r["method"] for r in agent.app.requests] == ["GET"]


async def test_a_direct_message_is_the_whole_reply(agent):
    events = await collect(provider(agent), Turn(text="Quick one [[message]]", user=ALICE))

    assert isinstance(events[0], RunStarted) and events[0].conversation_id
    assert text_of(events) == "A direct answer to “Quick one”, without a task."
    assert isinstance(events[-1], RunFinished)


async def test_answering_a_task_the_agent_does_not_know_shows_its_json_rpc_error(agent):
    answer = Turn(
        text="",
        user=ALICE,
        approval={"request_id": "no-such-task", "decisions": [{"type": "respond", "message": "Paris"}]},
    )
    with pytest.raises(UpstreamError) as refused:
        await collect(provider(agent), answer)

    assert refused.value.message.startswith("The agent refused the request: ")
    assert "(code -32001)" in refused.value.message


async def test_a_stream_that_stops_before_the_task_ends_is_an_incomplete_reply(agent):
    with ServedApp(cut_short_agent()) as served, pytest.raises(UpstreamError) as cut:
        await collect(A2AProvider(Connection(served.url, "k"), AgentSpec("agent")), Turn("Hi", ALICE))

    assert (
        cut.value.message
        == "The agent ended the stream before the task was finished; the reply is incomplete."
    )


def cut_short_agent():
    """A card, then a stream of the task and one working update that ends without a final state."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        host = dict(scope["headers"])[b"host"].decode()
        if scope["method"] == "GET":
            interface = {"url": f"http://{host}/", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
            body = {"name": "Cut", "supportedInterfaces": [interface], "capabilities": {"streaming": True}}
            await verbatim_app(json.dumps(body).encode(), b"application/json")(scope, receive, send)
            return
        task = {"id": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_SUBMITTED"}}
        working = {"taskId": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_WORKING"}}
        events = [{"task": task}, {"statusUpdate": working}]
        wire = b"".join(
            b"data: " + json.dumps({"jsonrpc": "2.0", "id": "1", "result": e}).encode() + b"\n\n"
            for e in events
        )
        await verbatim_app(wire)(scope, receive, send)

    return app
