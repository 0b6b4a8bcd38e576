"""A reply's frames for sockets in other processes: gathered in the run's outbox, sent through the
channel layer in batches (the hub's `publish` fills the outbox and starts `send_later`)."""

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer

from conversations.protocol import RESYNC
from conversations.relay.run import ReplyRun

logger = logging.getLogger(__name__)

# How long frames for sockets in other processes are gathered before sending: the first interval after
# a quiet spell; each interval that brings frames doubles the next, up to the most.
REMOTE_BATCH_SECONDS = 0.05
REMOTE_BATCH_MOST_SECONDS = 0.1


async def send_later(run: ReplyRun) -> None:
    """Send the frames gathered for other processes: the first at once, then those that came meanwhile
    at growing intervals (REMOTE_BATCH_SECONDS to REMOTE_BATCH_MOST_SECONDS), until an interval brings
    none.

    So a reply costs at most one layer message per interval and watcher, however many deltas it
    has, and a slow one's deltas are not held back. After a stall of this process the frames
    wait until the reply is known to be still its own.
    """
    interval = REMOTE_BATCH_SECONDS
    try:
        while run.outbox and not run.ownership_stale():
            await flush(run)
            await asyncio.sleep(interval)
            interval = min(2 * interval, REMOTE_BATCH_MOST_SECONDS)
    finally:
        run.flusher = None


async def drain(run: ReplyRun) -> None:
    """Send what is left for other processes (a reply's end) after the batches on their way."""
    if run.flusher is not None:
        await asyncio.wait([run.flusher])
    await flush(run)


async def flush(run: ReplyRun) -> None:
    frames, run.outbox = run.outbox, []
    if frames:
        layer = get_channel_layer()
        for channel in list(run.remote_watchers):
            try:
                await layer.send(
                    channel, {"type": "relay.frames", "frames": frames, "message_id": run.message_id}
                )
            except Exception:  # ChannelFull or a layer hiccup
                logger.warning(
                    "%d frames of reply %s to %s were not sent; it stops watching",
                    len(frames),
                    run.message_id,
                    channel,
                    exc_info=True,
                )
                run.remote_watchers.discard(channel)
                await ask_remote_to_resync(layer, channel)


async def ask_remote_to_resync(layer: Any, channel: str) -> None:
    """Ask a socket in another process that missed frames to resume (and so to watch again)."""
    try:
        await layer.send(channel, {"type": "relay.frames", "frames": [RESYNC]})
    except Exception:
        logger.warning("%s was not told to resync either; it catches up when it reconnects", channel)
