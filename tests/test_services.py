"""The scaled-out configuration really is PostgreSQL and Redis (the second pass of .ci/run)."""

import os

import pytest
from asgiref.sync import async_to_sync
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

    assert async_to_sync(round_trip)() == {"type": "ping", "n": 1}
