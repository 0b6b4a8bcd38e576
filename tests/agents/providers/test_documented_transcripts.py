"""Each platform's own documented example events, served verbatim over HTTP, through its adapter.

The fixtures (tests/fixtures/documented/, sources in its README) come from the
platforms' public documents and clients, not from our fakes, so these tests
notice where the adapters and the fakes share a wrong assumption.
"""

import json
from pathlib import Path

import pytest

from agents.providers.agentweave import AgentWeaveProvider
from agents.providers.base import AgentSpec, Connection, Turn, UpstreamError, UserRef
from agents.providers.events import (
    Activity,
    ApprovalRequested,
    ReplyEvent,
    ResumePoint,
    RunFinished,
    RunStarted,
    TextDelta,
    TextReplace,
    ToolFinished,
    ToolStarted,
)
from agents.providers.http import upstream_client
from agents.providers.sketricgen import OUT_OF_CREDITS, SketricGenProvider
from agents.providers.slug_chat import SlugChatProvider
from agents.providers.workflow_chat import WorkflowChatProvider
from tests.fakes import FIXTURES, ServedApp, verbatim_app

DOCUMENTED = FIXTURES / "documented"
ALICE = UserRef(1, "alice", "alice@example.com")


@pytest.fixture(autouse=True)
async def fresh_client():
    yield
    await upstream_client().aclose()


async def served_reply(provider_class, fixture: str, agent_id: str, *, status: int = 200, **options):
    """The events the adapter yields for the fixture, served as the platform's whole answer.

    Without resume points (where a replay would start), which show nothing.
    """
    body = (DOCUMENTED / fixture).read_bytes()
    content_type = b"application/json" if fixture.endswith(".json") else b"text/event-stream"
    with ServedApp(verbatim_app(body, content_type, status)) as served:
        provider = provider_class(Connection(served.url, "demo-key"), AgentSpec(agent_id, options))
        events = provider.stream_reply(Turn("Hello", user=ALICE))
        return [event async for event in events if not isinstance(event, ResumePoint)]


def text_of(events: list[ReplyEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_sketricgen_streaming_example():
    events = await served_reply(SketricGenProvider, "sketricgen_stream.sse", "agent_abc123xyz")

    assert events == [
        RunStarted(conversation_id="conv_def456ghi", run_id="run_123abc"),
        TextDelta(text="I'll help"),
        TextDelta(text=" you analyze"),
        RunFinished(),
    ]


async def test_sketricgen_json_example():
    events = await served_reply(
        SketricGenProvider, "sketricgen_reply.json", "agent_abc123xyz", status=201, stream=False
    )

    assert events[0] == RunStarted(conversation_id="conv_def456ghi")
    assert text_of(events).startswith("I'll help you analyze your quarterly sales data.")
    assert events[-1] == RunFinished()


async def test_sketricgen_human_input_pause_from_the_custom_event():
    events = await served_reply(SketricGenProvider, "sketricgen_hitl.sse", "agent-1", enable_hitl=True)

    assert text_of(events) == "Paused for review"
    assert events[-1] == ApprovalRequested(
        request_id="hitl-1",
        actions=[{"name": "request_human_input", "args": {"questions": []}, "allowed": ["respond"]}],
    )


async def test_sketricgen_out_of_credits_keeps_the_text_and_says_why():
    body = (DOCUMENTED / "sketricgen_out_of_credits.sse").read_bytes()
    events = []
    with ServedApp(verbatim_app(body)) as served:
        provider = SketricGenProvider(Connection(served.url, "k"), AgentSpec("agent_abc123xyz"))
        with pytest.raises(UpstreamError) as info:
            async for event in provider.stream_reply(Turn("Hello", user=ALICE)):
                events.append(event)

    assert text_of(events) == "I'll help"
    assert info.value.message == OUT_OF_CREDITS


async def test_workflow_chat_events_of_the_platforms_client():
    events = await served_reply(WorkflowChatProvider, "workflow_chat.sse", "caddie")

    assert [type(e) for e in events] == [
        RunStarted,
        Activity,
        ToolStarted,
        ToolFinished,
        Activity,
        TextDelta,
        TextDelta,
        RunFinished,
    ]
    assert events[1] == Activity(text="Looking for a template")
    assert events[2].name == "search_templates"
    assert events[4] == Activity(text="Workflow node: Start manually (manual)")
    assert text_of(events) == "Here is a price alert workflow."


async def test_workflow_chat_workflow_result_in_the_clients_types():
    events = await served_reply(WorkflowChatProvider, "workflow_chat_workflow.sse", "caddie")

    summary = text_of(events)
    assert summary.startswith("I built it.\n\n**Workflow: Price alert**")
    assert "Fields still to fill in:\n- notify.chatId" in summary
    assert "Validation errors:\n- notify: chatId is required" in summary
    assert isinstance(events[-1], RunFinished)


async def test_slug_chat_stream_exactly_as_the_document_prints_it():
    events = await served_reply(SlugChatProvider, "slug_chat.sse", "support-agent")

    assert text_of(events).startswith("Hello there! How can I help?")
    assert isinstance(events[-1], RunFinished)


async def test_agentweave_example_frames():
    events = await served_reply(AgentWeaveProvider, "agentweave.sse", "open_chat_openai")

    assert events[0] == RunStarted(conversation_id="01KATMZEAPX5201F9X5SBKKH6N")
    assert text_of(events) == "the answer"
    assert TextReplace(text="the answer, in full") in events
    assert isinstance(events[-1], RunFinished)


def test_every_documented_fixture_is_used_and_sourced():
    readme = (DOCUMENTED / "README.md").read_text()
    fixtures = sorted(p.name for p in DOCUMENTED.iterdir() if p.name != "README.md")
    here = Path(__file__).read_text()

    for name in fixtures:
        assert f"`{name}`" in readme or name.split(".")[0] in readme, name
        assert f'"{name}"' in here, name
    json.loads((DOCUMENTED / "sketricgen_reply.json").read_text())
