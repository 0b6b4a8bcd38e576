"""A platform's JSON and error bodies are read with a cap, never whole."""

import asyncio

import pytest

from agents.providers.base import UpstreamError
from agents.providers.http import request_json
from tests.conversations.test_upstream_limits import MIB, HostileSketricGen
from tests.fakes import ServedApp


@pytest.fixture
def hostile():
    app = HostileSketricGen()
    with ServedApp(app) as served:
        app.url = served.url
        yield app


async def test_a_json_body_over_the_cap_is_refused_and_the_connection_dropped(hostile, settings):
    settings.UPSTREAM_MAX_JSON_BYTES = 2 * MIB
    hostile.mode, hostile.count = "huge_json", 2000

    with pytest.raises(UpstreamError, match="Demo sent a response larger than 2,048 KiB; it was not read"):
        await request_json("POST", hostile.url + "/api/v1/run-workflow", platform="Demo")

    assert await asyncio.to_thread(hostile.disconnected.wait, 5)
    assert hostile.sent < 50


async def test_only_the_start_of_a_huge_error_body_is_read_and_300_characters_shown(hostile):
    hostile.mode, hostile.count = "huge_error", 2000

    with pytest.raises(UpstreamError) as refused:
        await request_json("POST", hostile.url + "/api/v1/run-workflow", platform="Demo")

    assert refused.value.status == 500
    assert refused.value.message.endswith("The platform said: " + "z" * 300)
    assert await asyncio.to_thread(hostile.disconnected.wait, 5)
    assert hostile.sent < 50
