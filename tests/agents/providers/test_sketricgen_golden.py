"""A SketricGen stream captured from the fake (tests/fixtures/sketricgen/normal.sse), read by the adapter.

If the fake drifts from what it sent when the transcript was captured, the
second test says so; if the adapter drifts, the first does.
"""

import json

import httpx

from agents.providers.base import AgentSpec, Connection, Turn, UserRef
from agents.providers.events import RunFinished, RunStarted, TextDelta, ToolFinished, ToolStarted
from agents.providers.sketricgen import SketricGenProvider
from tests.fakes import FIXTURES, ServedApp, verbatim_app

GOLDEN = FIXTURES / "sketricgen" / "normal.sse"


async def test_the_golden_transcript_through_the_adapter():
    with ServedApp(verbatim_app(GOLDEN.read_bytes())) as served:
        provider = SketricGenProvider(Connection(served.url, "demo-key"), AgentSpec("agent-demo"))
        events = [e async for e in provider.stream_reply(Turn("hi", user=UserRef(1, "alice")))]
    assert events[0] == RunStarted(conversation_id="conv_golden", run_id=events[0].run_id)
    assert events[-1] == RunFinished()
    kinds = [type(e) for e in events]
    assert kinds.count(ToolStarted) == kinds.count(ToolFinished) == 1
    assert kinds.index(ToolStarted) < kinds.index(ToolFinished)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.startswith("This is a simulated SketricGen agent, not a real model. This is turn 1")
    assert "“Hello golden”" in text
    assert "| Turn |" in text


def frame_shapes(raw: bytes) -> list[tuple[str, tuple[str, ...]]]:
    """Each frame's type and keys, without the values that change from run to run."""
    frames = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]
    return [(frame["type"], tuple(frame)) for frame in frames]


async def test_the_fake_still_sends_the_golden_transcript(sketricgen):
    sketricgen.app.token_delay = 0
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{sketricgen.url}/api/v1/run-workflow",
            headers={"api-key": "demo-key"},
            json={
                "agent_id": "agent-demo",
                "user_input": "Hello golden [[tool]]",
                "stream": True,
                "conversation_id": "conv_golden",
            },
        )
    assert frame_shapes(response.content) == frame_shapes(GOLDEN.read_bytes())
