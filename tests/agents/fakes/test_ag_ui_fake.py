"""The AG-UI fake (the demo's agent) passes the AG-UI conformance checker, and the adapter reads it."""

import json
from contextlib import aclosing

import httpx
import pytest
from ag_ui_validate.pytest_plugin import assert_valid_agui

from agents.providers.ag_ui import AGUIProvider
from agents.providers.base import AgentSpec, Connection, Turn, UpstreamError, UserRef
from agents.providers.events import Activity, ApprovalRequested, TextDelta, ToolFinished, ToolStarted

ALICE = UserRef(1, "alice", "alice@example.com")


@pytest.fixture
def fake(fake_platform):
    return fake_platform("ag_ui")


async def captured_events(fake, text: str) -> list[dict]:
    body = {"threadId": "t1", "runId": "r1", "messages": [{"id": "u1", "role": "user", "content": text}]}
    async with (
        httpx.AsyncClient(base_url=fake.url) as client,
        client.stream("POST", "/agent", json=body) as response,
    ):
        raw = (await response.aread()).decode()
    return [json.loads(line[len("data: ") :]) for line in raw.splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize("text", ["hello", "look [[tool]] [[step]]", "hmm [[think]]", "mail it [[approve]]"])
async def test_every_stream_is_valid_ag_ui(fake, text):
    events = await captured_events(fake, text)
    assert events[0] == {"type": "RUN_STARTED", "threadId": "t1", "runId": "r1", "protocolVersion": "1.0"}
    assert events[-1]["type"] == "RUN_FINISHED"
    assert_valid_agui(events, max_warnings=0)


async def test_the_adapter_shows_everything_the_demo_agent_does(fake):
    provider = AGUIProvider(Connection(fake.url, ""), AgentSpec("agent", {}))
    turn = Turn(text="show me [[tool]] [[step]] [[think]] [[words=4]]", user=ALICE)
    async with aclosing(provider.stream_reply(turn)) as stream:
        events = [event async for event in stream]
    assert [e.name for e in events if isinstance(e, ToolStarted)] == ["Reasoning", "lookup_opening_hours"]
    assert Activity(text="Step: Reading the question") in events
    assert any(isinstance(e, ToolFinished) and e.result == '{"open": "9:00-18:00"}' for e in events)
    assert len("".join(e.text for e in events if isinstance(e, TextDelta)).split()) == 4

    with pytest.raises(UpstreamError, match="Simulated failure"):
        async with aclosing(provider.stream_reply(Turn(text="x [[fail:run-error]]", user=ALICE))) as stream:
            [event async for event in stream]
    async with aclosing(provider.stream_reply(Turn(text="mail [[approve]]", user=ALICE))) as stream:
        asked = [event async for event in stream][-1]
    assert isinstance(asked, ApprovalRequested) and asked.actions[0]["name"] == "send_email"
