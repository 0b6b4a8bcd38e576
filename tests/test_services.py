"""The scaled-out configuration really is PostgreSQL and Redis (the second pass of .ci/run)."""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.db import connection

from chatsite.channel_layer import WaitingRedisChannelLayer

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
    assert isinstance(layer, RedisChannelLayer)

    async def round_trip() -> dict:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "ping", "n": 1})
        return await layer.receive(channel)

    # Its own thread and loop: the browser tests' Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(asyncio.run, round_trip()).result(timeout=30) == {"type": "ping", "n": 1}


def test_more_layer_calls_at_once_than_the_pool_has_connections_wait_for_one_and_all_arrive():
    """A hundred replies watched from another process send at once; none may fail for want of a
    connection (redis-py's own pool refuses the first one past its limit)."""
    layer = WaitingRedisChannelLayer(
        hosts=[
            {"address": os.environ["REDIS_URL"], "socket_timeout": None, "max_connections": 3, "timeout": 10}
        ],
        prefix=f"chatsite-test-pool-{os.getpid()}",
    )

    async def many_at_once() -> list[int]:
        channel = await layer.new_channel()
        await asyncio.gather(*(layer.send(channel, {"type": "frame", "n": n}) for n in range(40)))
        received = [(await layer.receive(channel))["n"] for _ in range(40)]
        await layer.flush()
        return sorted(received)

    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(asyncio.run, many_at_once()).result(timeout=60) == list(range(40))


def run_in_own_loop(coroutine) -> Any:
    # Its own thread and loop: the browser tests' Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


def small_layer(**config: Any) -> WaitingRedisChannelLayer:
    return WaitingRedisChannelLayer(
        hosts=[{"address": os.environ["REDIS_URL"], "socket_timeout": None}],
        prefix=f"chatsite-test-send-{os.getpid()}",
        **config,
    )


def test_a_send_to_a_full_channel_is_refused_and_what_it_holds_arrives():
    layer = small_layer(capacity=2)

    async def fill() -> list[int]:
        channel = await layer.new_channel()
        for n in range(2):
            await layer.send(channel, {"type": "frame", "n": n})
        with pytest.raises(ChannelFull):
            await layer.send(channel, {"type": "frame", "n": 2})
        received = [(await layer.receive(channel))["n"] for _ in range(2)]
        await layer.send(channel, {"type": "frame", "n": 3})  # room again
        received.append((await layer.receive(channel))["n"])
        await layer.flush()
        return received

    assert run_in_own_loop(fill()) == [0, 1, 3]


def test_a_send_drops_the_channels_expired_messages_first():
    layer = small_layer(expiry=1)

    async def late() -> dict:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "frame", "n": "stale"})
        for n in range(3):  # each send keeps the channel's key alive for another second
            await asyncio.sleep(0.7)
            await layer.send(channel, {"type": "frame", "n": n})
        received = await layer.receive(channel)
        await layer.flush()
        return received

    assert run_in_own_loop(late())["n"] != "stale"


def test_a_send_still_arrives_after_redis_forgot_its_script():
    layer = small_layer()

    async def after_flush() -> dict:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "frame", "n": 1})
        await layer.connection(0).script_flush()
        await layer.send(channel, {"type": "frame", "n": 2})
        received = [await layer.receive(channel) for _ in range(2)]
        await layer.flush()
        return received

    assert [m["n"] for m in run_in_own_loop(after_flush())] == [1, 2]
