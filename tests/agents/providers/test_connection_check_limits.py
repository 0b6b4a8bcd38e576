"""Testing with a real message reads a whole AgentWeave reply: the reply limits hold for it as for a chat."""

import asyncio
import json

import pytest

from agents.providers.agentweave import AgentWeaveProvider
from agents.providers.base import AgentSpec, Connection, UpstreamError
from tests.fakes import ServedApp

OK = {"code": 201000, "message": "Successfully."}


async def hi_then_heartbeats(scope, receive, send):
    """One word, then `: ping` every 0.1 s (300 of them at most)."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
    )
    hello = {"action": "send_message.delta", "message": {"content": "Hi"}, "result": OK}
    await send(
        {"type": "http.response.body", "body": f"data: {json.dumps(hello)}\n\n".encode(), "more_body": True}
    )
    for _ in range(300):
        await send({"type": "http.response.body", "body": b": ping\n\n", "more_body": True})
        await asyncio.sleep(0.1)
    await send({"type": "http.response.body", "body": b""})


async def test_heartbeats_do_not_keep_a_connection_check_waiting(settings):
    settings.UPSTREAM_IDLE_SECONDS = 1
    with ServedApp(hi_then_heartbeats) as served:
        checked = AgentWeaveProvider(Connection(served.url, "demo-key"), AgentSpec("agent_demo_weaver"))
        with pytest.raises(UpstreamError, match="sent nothing for 1 seconds"):
            await asyncio.wait_for(checked.check_with_real_turn(), 10)
