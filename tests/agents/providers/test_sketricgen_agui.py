"""The SketricGen fake's standard AG-UI mode (camelCase keys) passes the AG-UI conformance checker."""

import json

import httpx
import pytest
from ag_ui_validate.pytest_plugin import assert_valid_agui, validate_agui


async def captured_events(fake, text: str) -> list[dict]:
    async with (
        httpx.AsyncClient(base_url=fake.url) as client,
        client.stream(
            "POST",
            "/api/v1/run-workflow",
            headers={"api-key": "demo-key"},
            json={"agent_id": "agent-demo", "user_input": text, "stream": True},
        ) as response,
    ):
        body = (await response.aread()).decode()
    return [json.loads(line[len("data: ") :]) for line in body.splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize(
    "text", ["hello [[camel]]", "look it up [[camel]] [[tool]]", "notes [[camel]] [[workspace]] [[cite]]"]
)
async def test_the_camel_case_stream_is_valid_ag_ui(sketricgen, text):
    sketricgen.app.token_delay = 0
    events = await captured_events(sketricgen, text)
    assert events[0]["type"] == "RUN_STARTED" and "threadId" in events[0]
    assert_valid_agui(events, max_warnings=0)


async def test_the_checker_catches_a_broken_stream(sketricgen):
    sketricgen.app.token_delay = 0
    events = await captured_events(sketricgen, "hello [[camel]]")
    without_end = [e for e in events if e["type"] != "TEXT_MESSAGE_END"]
    assert validate_agui(without_end).summary.errors > 0
