"""The Redis channel layer, with a connection pool that waits for a free connection."""

from typing import Any

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class WaitingRedisChannelLayer(RedisChannelLayer):
    """channels-redis's layer whose pool waits for a free connection instead of failing at once.

    redis-py 8's pool opens at most `max_connections` connections (100 unless set) and
    raises `MaxConnectionsError` for the next at once: with a hundred replies watched from
    another process, sends to that process failed and its tabs were left without frames.
    `BlockingConnectionPool` waits up to `timeout` seconds for a connection instead.
    """

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"), **host)
