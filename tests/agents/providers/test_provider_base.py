"""The provider base: a turn is checked once before any adapter runs, and the HTTP client is handed in."""

import hashlib

import httpx
import pytest

from agents import platforms
from agents.fakes.slug_chat import SlugChatFake
from agents.fakes.workflow_chat import WorkflowChatFake
from agents.providers import provider_class
from agents.providers.base import AgentSpec, Connection, Turn, TurnFile, UpstreamError, UserRef
from agents.providers.events import RunFinished, RunStarted, TextDelta
from agents.providers.slug_chat import SlugChatProvider
from agents.providers.workflow_chat import WorkflowChatProvider

ALICE = UserRef(1, "alice", "alice@example.com")
# Nothing listens here: a request that reached the network instead of the handed-in client fails.
NOWHERE = "http://127.0.0.1:9"


def in_process_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=NOWHERE)


def pdf_file() -> TurnFile:
    data = b"%PDF-1.4 a report"
    return TurnFile(
        "f1", "report.pdf", "application/pdf", len(data), hashlib.sha256(data).hexdigest(), lambda: data
    )


async def test_a_provider_talks_through_the_client_it_is_handed():
    fake = SlugChatFake()
    fake.token_delay = 0
    async with in_process_client(fake) as client:
        provider = SlugChatProvider(
            Connection(NOWHERE, "demo-key"), AgentSpec("support-agent"), client=client
        )
        events = [event async for event in provider.stream_reply(Turn("Hello [[words=3]]", user=ALICE))]

    assert isinstance(events[0], RunStarted)
    assert "".join(e.text for e in events if isinstance(e, TextDelta))
    assert isinstance(events[-1], RunFinished)
    assert [r["path"] for r in fake.requests] == ["/v1/api/chat/support-agent"]


@pytest.mark.parametrize(
    ("provider_type", "fake_type", "options", "turn", "problem"),
    [
        (SlugChatProvider, SlugChatFake, {}, Turn("   ", user=ALICE), "Write a message first."),
        (
            SlugChatProvider,
            SlugChatFake,
            {"user_identifier": "phone"},
            Turn("hi", user=ALICE),
            "This agent's Agent Chat API settings need fixing by an admin: user_identifier must be one of",
        ),
        (
            WorkflowChatProvider,
            WorkflowChatFake,
            {},
            Turn("what is in it?", user=ALICE, files=(pdf_file(),)),
            "Workflow chat takes only images; “report.pdf” is not one.",
        ),
        (
            WorkflowChatProvider,
            WorkflowChatFake,
            {"agentVersion": "v9"},
            Turn("hi", user=ALICE),
            "This agent's Workflow chat settings need fixing by an admin: ",
        ),
    ],
)
async def test_a_turn_that_cannot_be_sent_is_refused_before_any_request(
    provider_type, fake_type, options, turn, problem
):
    fake = fake_type()
    async with in_process_client(fake) as client:
        provider = provider_type(Connection(NOWHERE, "demo-key"), AgentSpec("agent", options), client=client)
        with pytest.raises(UpstreamError) as refused:
            async for _ in provider.stream_reply(turn):
                pass

    assert refused.value.message.startswith(problem)
    assert fake.requests == []


def test_each_adapter_takes_its_label_from_its_registry_entry():
    for entry in platforms.ENTRIES:
        adapter = provider_class(entry.id)
        assert (adapter.platform, adapter.label) == (entry.id, entry.label)
