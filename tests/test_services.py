"""The scaled-out configuration really is PostgreSQL and Redis (the second pass of .ci/run)."""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels.layers import get_channel_layer
from django.db import connection

pytestmark = pytest.mark.services

if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
    if os.environ.get("CHATSITE_REQUIRE_SERVICES"):
        raise RuntimeError("CHATSITE_REQUIRE_SERVICES is set but DATABASE_URL or REDIS_URL is not.")
    pytest.skip("DATABASE_URL and REDIS_URL unset: the embedded default is in use", allow_module_level=True)


@pytest.mark.django_db
def test_the_database_is_postgresql():
    assert connection.vendor == "postgresql"


def test_the_channel_layer_is_redis_and_carries_messages():
    layer = get_channel_layer()
    assert type(layer).__module__ == "channels_redis.core"

    async def round_trip() -> dict:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "ping", "n": 1})
        return await layer.receive(channel)

    # Its own thread and loop: the browser tests' Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(asyncio.run, round_trip()).result(timeout=30) == {"type": "ping", "n": 1}
