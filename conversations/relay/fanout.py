"""The hub: the replies running in this process and the sockets watching them, here and in other processes."""

import asyncio
import logging
from datetime import datetime
from typing import Any

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.utils.translation import gettext as _

from conversations.protocol import RESYNC, RefusalCode, Refused, SendFrame
from conversations.relay import outbox
from conversations.relay.checkpoints import keep_checkpointing
from conversations.relay.run import ReplyRun
from conversations.relay.state import saved_reply, saved_state, streaming_reply_owner
from conversations.relay.sweep import keep_sweeping

logger = logging.getLogger(__name__)

# The origin of news from outside the relay (a view): no process's channel, so no process skips it.
OUTSIDE_THE_RELAY = "outside"

# The listener's pause after a layer error, doubled while errors go on, up to the maximum.
LISTEN_RETRY_SECONDS = 0.1
MAX_LISTEN_RETRY_SECONDS = 10.0


# Replies taken over are rare (a process died or stalled): a few are remembered, for the frames of
# them still on their way from the process they were taken from.
MAX_TAKEN_OVER_REMEMBERED = 1000


def conversation_group(conversation_id: str) -> str:
    """The layer group of every socket watching the conversation, in any process: news of new replies."""
    return f"relay.conversation.{conversation_id}"


def log_failure(task: asyncio.Task) -> None:
    """Done callback of a background task: an exception that ended it is logged, never lost."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("The background task %s failed", task.get_name(), exc_info=task.exception())


def background(coroutine: Any, name: str) -> asyncio.Task:
    task = asyncio.create_task(coroutine, name=name)
    task.add_done_callback(log_failure)
    return task


class Hub:
    """The replies running in this process, and the sockets watching each conversation.

    A socket served by another process (several Daphne processes behind one
    address) watches a reply through the channel layer: it asks the process
    named on the reply (`Message.relay_channel`) to forward its frames, which
    go out in small batches rather than one layer message per delta. It learns
    of a reply that starts while it is open from the conversation's group
    (`conversation_group`), which every socket of the conversation joins.
    """

    def __init__(self) -> None:
        self.runs: dict[int, ReplyRun] = {}
        self.watchers: dict[str, set[SendFrame]] = {}
        self.channel_name = ""
        self._listener: asyncio.Task | None = None
        self._checkpointer: asyncio.Task | None = None
        self._sweeper: asyncio.Task | None = None
        # When the last sweep began (database time): interruptions since then are news to tell.
        self.last_swept: datetime | None = None
        # Off once the process is stopping (chatsite/shutdown.py): running replies finish, none starts.
        self.taking_turns = True
        # The replies this process took over from a stalled or dead one, latest last.
        self.taken_over: dict[int, None] = {}

    def take_over(self, run: ReplyRun) -> None:
        """Relay `run` here from now on, in place of the process that ran it."""
        self.runs[run.message_id] = run
        self.taken_over[run.message_id] = None
        if len(self.taken_over) > MAX_TAKEN_OVER_REMEMBERED:
            del self.taken_over[next(iter(self.taken_over))]

    def superseded(self, message: dict[str, Any]) -> bool:
        """Whether `message` (`relay.frames` from another process) is of a reply this process took over:
        frames that process sent before it knew, or that were on their way when it stalled."""
        return message.get("message_id") in self.taken_over

    def spawn(self, coroutine: Any, name: str) -> asyncio.Task:
        """Run `coroutine` as a background task of the hub, its failure logged."""
        return background(coroutine, name)

    def run_in(self, conversation_id: str) -> ReplyRun | None:
        for run in self.runs.values():
            if run.conversation_id == conversation_id:
                return run
        return None

    async def broadcast(self, conversation_id: str, text: str) -> None:
        for send in list(self.watchers.get(conversation_id, ())):
            try:
                await send(text)
            except Exception:
                logger.warning(
                    "A frame of %d characters to a socket watching conversation %s was not sent",
                    len(text),
                    conversation_id,
                    exc_info=True,
                )
                await self.ask_to_resync(conversation_id, send)

    async def announce(self, conversation_id: str, text: str, run: ReplyRun | None = None) -> None:
        """Send a frame to the conversation's sockets here and, through its group, in other processes.

        With `run` (the frame starts it), a socket in another process then asks to watch the reply.
        """
        await self.broadcast(conversation_id, text)
        news: dict[str, Any] = {"type": "relay.news", "frames": [text], "origin": self.channel_name}
        if run is not None:
            news |= {"message_id": run.message_id, "after_seq": run.seq}
        try:
            await get_channel_layer().group_send(conversation_group(conversation_id), news)
        except Exception:
            logger.warning(
                "News of conversation %s did not reach other processes; their pages catch up at a reload",
                conversation_id,
                exc_info=True,
            )

    async def hear(self, conversation_id: str, news: dict[str, Any], send: SendFrame, reply_to: str) -> None:
        """Pass news from the conversation's group to a socket, unless it came from this process.

        The socket then watches the new reply through the process running it.
        """
        if news["origin"] == self.channel_name:
            return  # its sockets here got the frames from `broadcast`
        for text in news["frames"]:
            await send(text)
        if news.get("message_id") is None:
            return
        watch = {
            "type": "relay.watch",
            "reply_to": reply_to,
            "conversation_id": conversation_id,
            "message_id": news["message_id"],
            "after_seq": news["after_seq"],
        }
        try:
            await get_channel_layer().send(news["origin"], watch)
        except Exception:  # ChannelFull or a layer hiccup: the page resumes what it shows running
            logger.warning("Reply %s was not watched from %s", news["message_id"], reply_to, exc_info=True)
            await self.ask_to_resync(conversation_id, send)

    async def ask_to_resync(self, conversation_id: str, send: SendFrame) -> None:
        """Tell a socket that missed a frame to resume what it shows running; a closed one stops watching."""
        try:
            await send(RESYNC)
        except Exception:
            logger.warning("The socket is gone; it stops watching conversation %s", conversation_id)
            self.unwatch(conversation_id, send)

    async def publish(self, run: ReplyRun, text: str) -> None:
        await self.broadcast(run.conversation_id, text)
        if run.remote_watchers:
            run.outbox.append(text)
            if run.flusher is None:
                run.flusher = background(outbox.send_later(run), f"relay-flush-{run.message_id}")

    async def watch(self, conversation_id: str, send: SendFrame, reply_to: str = "") -> None:
        """Send the conversation's reply events to `send`, after a snapshot of any running reply.

        `reply_to` is the socket's channel, for a reply running in another process; it joins
        the conversation's group, for news of replies that start later.
        """
        self.ensure_sweeper()
        if reply_to:
            # Before asking who runs a reply: one that starts meanwhile is then announced to it.
            await get_channel_layer().group_add(conversation_group(conversation_id), reply_to)
        # No await from here until the snapshot is handed to `send`: no event of the reply precedes it.
        self.watchers.setdefault(conversation_id, set()).add(send)
        run = self.run_in(conversation_id)
        if run is not None:
            await send(run.snapshot())
        elif reply_to:
            await self.ask_owner(conversation_id, {"type": "relay.watch", "reply_to": reply_to})

    def ensure_checkpointer(self) -> None:
        """Start this event loop's checkpointer unless it runs; it stops when no reply is left."""
        task = self._checkpointer
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._checkpointer = background(keep_checkpointing(self), "relay-checkpoints")

    def ensure_sweeper(self) -> None:
        """Start this event loop's sweep for dead processes' replies unless it runs; it runs for good."""
        task = self._sweeper
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._sweeper = background(keep_sweeping(self), "relay-sweeper")

    def unwatch(self, conversation_id: str, send: SendFrame) -> None:
        watchers = self.watchers.get(conversation_id)
        if watchers is not None:
            watchers.discard(send)
            if not watchers:
                del self.watchers[conversation_id]

    def stop(self, conversation_id: str, message_id: int | None) -> bool:
        run = self.runs.get(message_id) if message_id else self.run_in(conversation_id)
        if run is None or run.conversation_id != conversation_id or run.task is None:
            return False
        run.stop_requested = True
        run.task.cancel()
        return True

    async def ask_owner(self, conversation_id: str, message: dict[str, Any]) -> bool:
        """Send `message` to the process running the conversation's reply, if another one is."""
        owner = await streaming_reply_owner(conversation_id)
        if owner is None or owner[1] == self.channel_name:
            return False
        await get_channel_layer().send(
            owner[1], {**message, "conversation_id": conversation_id, "message_id": owner[0]}
        )
        return True

    async def ensure_channel(self) -> str:
        """This process's channel on the layer, listened to for the duration of the event loop."""
        if (
            self._listener is None
            or self._listener.done()
            or self._listener.get_loop() is not asyncio.get_running_loop()
        ):
            layer = listening_layer()
            self.channel_name = await layer.new_channel("relay.")
            self._listener = background(self.listen(layer, self.channel_name), "relay-listener")
        return self.channel_name

    async def listen(self, layer: Any, channel: str) -> None:
        """Serve the other processes' requests for as long as the event loop runs.

        A layer error (a full channel, a lost connection to Redis) is logged and
        the hub listens again on the same channel, which the replies it runs
        name, after a pause that grows while the errors go on.
        """
        failures = 0
        while True:
            try:
                message = await layer.receive(channel)
                await self.answer(layer, message)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                pause = min(LISTEN_RETRY_SECONDS * 2 ** (failures - 1), MAX_LISTEN_RETRY_SECONDS)
                logger.exception(
                    "The relay's listener on %s failed; it listens again in %.1f s", channel, pause
                )
                await asyncio.sleep(pause)

    async def answer(self, layer: Any, message: dict[str, Any]) -> None:
        """Act on a request about a reply this process runs: watch it from another process, or stop it."""
        run = self.runs.get(message.get("message_id"))
        if run is None and message["type"] == "relay.watch":
            await self.send_saved_ending(layer, message)
            return
        if run is None or run.conversation_id != message.get("conversation_id"):
            return
        if message["type"] == "relay.watch":
            # No event is numbered meanwhile: the snapshot reaches the socket before any later event.
            async with run.publishing:
                run.remote_watchers.add(message["reply_to"])
                if run.seq > message.get("after_seq", -1):
                    snapshot = run.snapshot()
                    await layer.send(
                        message["reply_to"],
                        {"type": "relay.frames", "frames": [snapshot], "message_id": run.message_id},
                    )
        elif message["type"] == "relay.stop":
            self.stop(run.conversation_id, run.message_id)

    async def send_saved_ending(self, layer: Any, message: dict[str, Any]) -> None:
        """A reply that ended before a socket in another process asked to watch it: its saved ending."""
        reply = await saved_reply(message["conversation_id"], message["message_id"])
        if reply is not None and reply.is_finished and reply.seq > message.get("after_seq", -1):
            await layer.send(message["reply_to"], {"type": "relay.frames", "frames": [saved_state(reply)]})


def listening_layer() -> Any:
    """The layer the hub receives on.

    A Redis layer gets an instance of its own: channels_redis shares one
    receive lock among all receivers of an instance, and a receiver that never
    stops waiting (the hub) starved the consumers' receives behind it.
    """
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        return layer
    return channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)


hub = Hub()


async def hear(conversation_id: str, news: dict[str, Any], send: SendFrame, *, reply_to: str) -> None:
    """Pass news from the conversation's group to a socket (`send`, on channel `reply_to`)."""
    await hub.hear(conversation_id, news, send, reply_to)


async def tell_every_socket(conversation_id: str, text: str) -> None:
    """Send a frame to every socket of the conversation, in every process, through its group alone."""
    news = {"type": "relay.news", "frames": [text], "origin": OUTSIDE_THE_RELAY}
    try:
        await get_channel_layer().group_send(conversation_group(conversation_id), news)
    except Exception:
        logger.warning(
            "News of conversation %s did not reach its sockets; their pages catch up at a reload",
            conversation_id,
            exc_info=True,
        )


def superseded(message: dict[str, Any]) -> bool:
    return hub.superseded(message)


def stop_taking_turns() -> None:
    hub.taking_turns = False


def refuse_if_stopping() -> None:
    """Refuse a new turn in a process that is stopping: the page asks another one (after reconnecting)."""
    if not hub.taking_turns:
        raise Refused(
            RefusalCode.RESTARTING, _("The site is restarting. Send your message again in a moment.")
        )


def running() -> list[int]:
    """The ids of the replies running in this process."""
    return list(hub.runs)
