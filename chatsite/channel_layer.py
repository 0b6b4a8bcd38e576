"""The Redis channel layer: a connection pool that waits for a free connection, and a send in one trip."""

import hashlib
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import NoScriptError

# What channels-redis's `send` does in four trips to Redis (and four turns of the pool), in one:
# drop the channel's expired messages, refuse a full channel, add the message, keep the key alive.
# The same steps its `group_send` takes for each channel of a group in one script.
SEND_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
if redis.call('ZCOUNT', KEYS[1], '-inf', '+inf') >= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
SEND_SCRIPT_SHA = hashlib.sha1(SEND_SCRIPT.encode(), usedforsecurity=False).hexdigest()


class WaitingRedisChannelLayer(RedisChannelLayer):
    """channels-redis's layer whose pool waits for a free connection instead of failing at once,
    and whose `send` is one script.

    redis-py 8's pool opens at most `max_connections` connections (100 unless set) and
    raises `MaxConnectionsError` for the next at once: with a hundred replies watched from
    another process, sends to that process failed and its tabs were left without frames.
    `BlockingConnectionPool` waits up to `timeout` seconds for a connection instead.
    """

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"), **host)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        if "!" in channel:  # a process-local channel: the message names it, the key is its process's
            message = {**message, "__asgi_channel__": channel}
            key, index = self.prefix + self.non_local_name(channel), self.consistent_hash(channel)
        else:
            key, index = self.prefix + channel, next(self._send_index_generator)
        now = time.time()
        args = (int(now) - int(self.expiry), self.get_capacity(channel), now, self.serialize(message))
        connection = self.connection(index)
        try:
            added = await connection.evalsha(SEND_SCRIPT_SHA, 1, key, *args, int(self.expiry))
        except NoScriptError:  # Redis restarted, or its script cache was flushed
            added = await connection.eval(SEND_SCRIPT, 1, key, *args, int(self.expiry))
        if not added:
            raise ChannelFull()
