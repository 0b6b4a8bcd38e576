"""The relay: runs one reply from its platform to every socket watching it.

Deltas go straight from the adapter to the sockets of this process (no
database write and no channel-layer hop per delta). The partial text is
checkpointed every REPLY_CHECKPOINT_SECONDS and the final state written once.
Each reply numbers its events (`seq`); a socket that (re)connects gets a
snapshot of the reply so far and then every later event, so nothing is
missed or shown twice.
"""

import asyncio
import functools
import itertools
import json
import logging
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from channels import DEFAULT_CHANNEL_LAYER
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import Agent
from agents.providers import Provider, Turn, UpstreamError, UserRef
from agents.providers.events import (
    Activity,
    ApprovalRequested,
    ReplyEvent,
    Retrying,
    RunFinished,
    RunStarted,
    TextDelta,
    TextReplace,
    ToolFinished,
    ToolStarted,
)
from agents.providers.limits import within_limits
from agents.providers.retry import stream_with_retries
from conversations.attachments import AttachmentsRefused, attachment_view, link_pending, turn_file
from conversations.models import Attachment, Conversation, Message, title_from
from conversations.rendering import StreamingMarkdown, render_markdown

logger = logging.getLogger(__name__)

SendFrame = Callable[[str], Awaitable[None]]

# Daphne refuses websocket messages over 1 MiB. A frame longer than this many
# characters (at most 4 bytes each in UTF-8) goes out in pieces of this size.
PIECE_CHARS = 64 * 1024

# How long frames for sockets in other processes are gathered before sending.
REMOTE_BATCH_SECONDS = 0.05

# A streaming reply whose row has not been touched for this long belongs to a
# process that died; it is marked interrupted.
ALIVE_SECONDS = 90
# How often every process sweeps for such replies: a dead process's reply is
# interrupted, and every page watching it told, within ALIVE_SECONDS + 2 sweeps.
SWEEP_SECONDS = ALIVE_SECONDS / 3

MAX_RESPONSE_CHARS = 10_000
# A tool call's arguments and result are kept up to this length each.
MAX_TOOL_DETAIL_CHARS = 20_000

# An error shown under a reply: the site's words and at most a few hundred of the platform's.
MAX_ERROR_CHARS = 600

INTERNAL_ERROR = "Something went wrong on this site while relaying the reply. Try again."


class TurnRefused(Exception):
    """A request to start a reply that cannot be honoured; nothing was saved."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def frame(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


_piece_ids = itertools.count(1)


def frame_pieces(text: str) -> list[str]:
    """The websocket messages that carry frame `text`: itself, or `frame.piece` frames under the limit.

    The browser joins the `data` of pieces 0 to `count - 1` of one `id` and reads the result as
    the frame (docs/websocket.md). Pieces of different frames may interleave; their ids tell them apart.
    """
    if len(text) <= PIECE_CHARS:
        return [text]
    piece_id = next(_piece_ids)
    count = -(-len(text) // PIECE_CHARS)
    return [
        frame(
            {
                "type": "frame.piece",
                "id": piece_id,
                "index": index,
                "count": count,
                "data": text[index * PIECE_CHARS : (index + 1) * PIECE_CHARS],
            }
        )
        for index in range(count)
    ]


RESYNC = frame({"type": "resync"})


@dataclass(eq=False)
class ReplyRun:
    """A reply being streamed in this process."""

    message_id: int
    conversation_id: str
    hub: "Hub"
    seq: int = 0
    markdown: StreamingMarkdown = field(default_factory=StreamingMarkdown)
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    upstream_conversation_id: str = ""
    upstream_run_id: str = ""
    finished: bool = False
    stop_requested: bool = False
    task: asyncio.Task | None = None
    approval: dict[str, Any] = field(default_factory=dict)
    remote_watchers: set[str] = field(default_factory=set)
    outbox: list[str] = field(default_factory=list)
    flusher: asyncio.Task | None = None
    first_text_at: datetime | None = None
    # What the last checkpoint saved, and when (monotonic seconds).
    saved_seq: int = 0
    saved_at: float = field(default_factory=time.monotonic)

    def snapshot(self) -> dict[str, Any]:
        return {
            "type": "reply.snapshot",
            "message_id": self.message_id,
            "seq": self.seq,
            "status": Message.Status.STREAMING,
            "text": self.markdown.text,
            "html": self.markdown.committed_html,
            "tail": self.markdown.tail,
            "tool_calls": self.tool_calls,
        }

    def apply(self, event: ReplyEvent) -> dict[str, Any] | None:
        """Fold `event` into the reply; the frame to send, or None for nothing to show."""
        base = {"message_id": self.message_id}
        if isinstance(event, TextDelta | TextReplace) and self.first_text_at is None:
            self.first_text_at = timezone.now()
        if isinstance(event, TextDelta):
            self.seq += 1
            payload = {"type": "text_delta", **base, "seq": self.seq, "text": event.text}
            commit = self.markdown.feed(event.text)
            if commit is not None:
                payload["commit"] = {"html": commit[0], "tail": commit[1]}
            return payload
        if isinstance(event, TextReplace):
            self.seq += 1
            html, tail = self.markdown.replace(event.text)
            return {"type": "text_replace", **base, "seq": self.seq, "html": html, "tail": tail}
        if isinstance(event, ToolStarted):
            self.tool_calls.append({"id": event.id, "name": event.name, "status": "running"})
        elif isinstance(event, ToolFinished):
            for call in self.tool_calls:
                if call["id"] == event.id:
                    call["status"] = "done"
                    if event.arguments:
                        call["arguments"] = event.arguments[:MAX_TOOL_DETAIL_CHARS]
                    if event.result:
                        call["result"] = event.result[:MAX_TOOL_DETAIL_CHARS]
        elif isinstance(event, RunStarted):
            self.upstream_conversation_id = event.conversation_id or self.upstream_conversation_id
            self.upstream_run_id = event.run_id or self.upstream_run_id
            return None
        elif isinstance(event, RunFinished):
            self.finished = True
            return None
        elif isinstance(event, ApprovalRequested):
            self.approval = {"request_id": event.request_id, "actions": event.actions, "status": "pending"}
        elif not isinstance(event, Activity | Retrying | ApprovalRequested):
            return None
        self.seq += 1
        payload = event.to_dict()
        payload["type"] = payload.pop("kind")
        return {**payload, **base, "seq": self.seq}


class Hub:
    """The replies running in this process, and the sockets watching each conversation.

    A socket served by another process (several Daphne processes behind one
    address) watches a reply through the channel layer: it asks the process
    named on the reply (`Message.relay_channel`) to forward its frames, which
    go out in small batches rather than one layer message per delta.
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
                run.flusher = asyncio.create_task(self.flush_later(run))

    async def flush_later(self, run: ReplyRun) -> None:
        await asyncio.sleep(REMOTE_BATCH_SECONDS)
        await self.flush(run)

    async def flush(self, run: ReplyRun) -> None:
        run.flusher = None
        frames, run.outbox = run.outbox, []
        if frames:
            layer = get_channel_layer()
            for channel in list(run.remote_watchers):
                try:
                    await layer.send(channel, {"type": "relay.frames", "frames": frames})
                except Exception:  # ChannelFull or a layer hiccup
                    logger.warning(
                        "%d frames of reply %s to %s were not sent; it stops watching",
                        len(frames),
                        run.message_id,
                        channel,
                        exc_info=True,
                    )
                    run.remote_watchers.discard(channel)
                    await self.ask_remote_to_resync(layer, channel)

    async def ask_remote_to_resync(self, layer: Any, channel: str) -> None:
        """Ask a socket in another process that missed frames to resume (and so to watch again)."""
        try:
            await layer.send(channel, {"type": "relay.frames", "frames": [RESYNC]})
        except Exception:
            logger.warning("%s was not told to resync either; it catches up when it reconnects", channel)

    async def watch(self, conversation_id: str, send: SendFrame, reply_to: str = "") -> None:
        """Send the conversation's reply events to `send`, after a snapshot of any running reply.

        `reply_to` is the socket's channel, for a reply running in another process.
        """
        self.ensure_sweeper()
        self.watchers.setdefault(conversation_id, set()).add(send)
        run = self.run_in(conversation_id)
        if run is not None:
            await send(frame(run.snapshot()))
        elif reply_to:
            await self.ask_owner(conversation_id, {"type": "relay.watch", "reply_to": reply_to})

    def ensure_checkpointer(self) -> None:
        """Start this event loop's checkpointer unless it runs; it stops when no reply is left."""
        task = self._checkpointer
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._checkpointer = asyncio.create_task(keep_checkpointing(self), name="relay-checkpoints")

    def ensure_sweeper(self) -> None:
        """Start this event loop's sweep for dead processes' replies unless it runs; it runs for good."""
        task = self._sweeper
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._sweeper = asyncio.create_task(keep_sweeping(self), name="relay-sweeper")

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
            self._listener = asyncio.create_task(self.listen(layer, self.channel_name), name="relay-listener")
        return self.channel_name

    async def listen(self, layer: Any, channel: str) -> None:
        while True:
            message = await layer.receive(channel)
            run = self.runs.get(message.get("message_id"))
            if run is None or run.conversation_id != message.get("conversation_id"):
                continue
            if message["type"] == "relay.watch":
                run.remote_watchers.add(message["reply_to"])
                await layer.send(
                    message["reply_to"], {"type": "relay.frames", "frames": [frame(run.snapshot())]}
                )
            elif message["type"] == "relay.stop":
                self.stop(run.conversation_id, run.message_id)


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


# Database steps. Each runs in a worker thread, outside the event loop.


@database_sync_to_async
def save_turn(
    conversation_id: str,
    user_id: int,
    text: str,
    relay_channel: str,
    timezone_name: str = "",
    attachment_ids: list[str] | tuple[str, ...] = (),
) -> tuple[Message, Message, Provider, list[dict[str, Any]], Turn]:
    """Save the user's message with its pending files and an empty streaming reply, before going upstream.

    Returns the messages, the adapter, what the page shows of the files, and the turn to send.
    """
    attachment_ids = list(dict.fromkeys(attachment_ids))
    with transaction.atomic():
        conversation = locked_conversation(conversation_id, user_id)
        provider = ready_provider(conversation)
        problem = provider.input_problem(text, len(attachment_ids))
        if problem:
            raise TurnRefused("INVALID_INPUT", problem)
        refuse_if_busy(conversation)
        refuse_over_limits(user_id, sends_message=True)
        user_message = conversation.messages.create(role=Message.Role.USER, content=text)
        try:
            files = link_pending(conversation, user_message, attachment_ids)
        except AttachmentsRefused as refused:
            raise TurnRefused("INVALID_INPUT", refused.message) from None
        reply = conversation.messages.create(
            role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, relay_channel=relay_channel
        )
        if not conversation.title:
            conversation.title = title_from(text or ", ".join(a.name for a in files))
        conversation.save(update_fields=["title", "updated_at"])
    shown = [attachment_view(a) for a in files]
    return user_message, reply, provider, shown, turn_for(conversation, text, timezone_name, files)


@database_sync_to_async
def save_retry(
    conversation_id: str, user_id: int, message_id: int, relay_channel: str, regenerate: bool = False
) -> tuple[Message, Provider, Turn]:
    """Replace the last reply with a new streaming one for the same question.

    A retry replaces a reply that failed or stopped; `regenerate` also replaces a complete one.
    """
    with transaction.atomic():
        conversation = locked_conversation(conversation_id, user_id)
        last_two = list(conversation.messages.order_by("-created_at", "-id")[:2])
        kept = (
            {Message.Status.STREAMING} if regenerate else {Message.Status.STREAMING, Message.Status.COMPLETE}
        )
        if (
            len(last_two) != 2
            or last_two[0].pk != message_id
            or last_two[0].role != Message.Role.ASSISTANT
            or last_two[0].status in kept
            or last_two[1].role != Message.Role.USER
        ):
            raise TurnRefused(
                "NOT_FOUND",
                "Only the last reply can be regenerated, once it has ended."
                if regenerate
                else "Only the last reply can be retried, once it has failed or stopped.",
            )
        provider = ready_provider(conversation)
        refuse_over_limits(user_id, sends_message=False)
        last_two[0].delete()
        reply = conversation.messages.create(
            role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, relay_channel=relay_channel
        )
        conversation.save(update_fields=["updated_at"])
    files = list(last_two[1].attachments.all())
    return reply, provider, turn_for(conversation, last_two[1].content, files=files)


@database_sync_to_async
def save_edit(
    conversation_id: str,
    user_id: int,
    message_id: int,
    text: str,
    relay_channel: str,
    timezone_name: str = "",
) -> tuple[Message, Message, int | None, Provider, list[dict[str, Any]], Turn]:
    """Replace the last user message (and the reply to it) with the edited text and a new streaming reply.

    The message's files stay with it. Returns the new user message, the new reply, the id of the
    reply it replaces, the adapter, what the page shows of the files and the turn.
    """
    with transaction.atomic():
        conversation = locked_conversation(conversation_id, user_id)
        last_two = list(conversation.messages.order_by("-created_at", "-id")[:2])
        if last_two and last_two[0].role == Message.Role.USER:
            edited, old_reply = last_two[0], None
        elif len(last_two) == 2 and last_two[1].role == Message.Role.USER:
            edited, old_reply = last_two[1], last_two[0]
        else:
            edited, old_reply = None, None
        if edited is None or edited.pk != message_id:
            raise TurnRefused("NOT_FOUND", "Only your last message can be edited.")
        provider = ready_provider(conversation)
        files = list(edited.attachments.all())
        problem = provider.input_problem(text, len(files))
        if problem:
            raise TurnRefused("INVALID_INPUT", problem)
        refuse_if_busy(conversation)
        refuse_over_limits(user_id, sends_message=True)
        old_reply_id = old_reply.pk if old_reply else None
        if old_reply is not None:
            old_reply.delete()
        user_message = conversation.messages.create(role=Message.Role.USER, content=text)
        edited.attachments.update(message=user_message)
        edited.delete()
        reply = conversation.messages.create(
            role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, relay_channel=relay_channel
        )
        conversation.save(update_fields=["updated_at"])
    shown = [attachment_view(a) for a in files]
    turn = turn_for(conversation, text, timezone_name, files)
    return user_message, reply, old_reply_id, provider, shown, turn


@database_sync_to_async
def save_decisions(
    conversation_id: str, user_id: int, message_id: int, decisions: Any, relay_channel: str
) -> tuple[Message, Provider, Turn]:
    with transaction.atomic():
        conversation = locked_conversation(conversation_id, user_id)
        reply = conversation.messages.filter(pk=message_id, status=Message.Status.PAUSED).first()
        if reply is None or reply.approval.get("status") != "pending":
            raise TurnRefused("NOT_FOUND", "This reply is not waiting for a decision.")
        problem = decisions_problem(reply.approval["actions"], decisions)
        if problem:
            raise TurnRefused("INVALID_INPUT", problem)
        provider = ready_provider(conversation)
        refuse_over_limits(user_id, sends_message=False)
        chosen = [
            {"type": d["type"], **({"message": d["message"]} if d["type"] == "respond" else {})}
            for d in decisions
        ]
        reply.approval = {**reply.approval, "status": "resolved", "decisions": chosen}
        reply.status, reply.relay_channel = Message.Status.STREAMING, relay_channel
        reply.save(update_fields=["approval", "status", "relay_channel", "updated_at"])
    turn = replace(
        turn_for(conversation, ""), approval={"request_id": reply.approval["request_id"], "decisions": chosen}
    )
    return reply, provider, turn


def decisions_problem(actions: list[dict[str, Any]], decisions: Any) -> str:
    """Why `decisions` do not answer `actions` (one each, in order, as allowed); "" when they do."""
    if not isinstance(decisions, list) or len(decisions) != len(actions):
        return f"Decide on each of the {len(actions)} actions."
    for action, decision in zip(actions, decisions, strict=True):
        kind = decision.get("type") if isinstance(decision, dict) else None
        if kind not in action["allowed"]:
            return f"For {action['name']}, choose one of: {', '.join(action['allowed'])}."
        if kind == "respond":
            message = decision.get("message")
            if not isinstance(message, str) or not message.strip() or len(message) > MAX_RESPONSE_CHARS:
                return f"For {action['name']}, write a response of at most {MAX_RESPONSE_CHARS:,} characters."
    return ""


def locked_conversation(conversation_id: str, user_id: int) -> Conversation:
    """The user's conversation, locked until the transaction ends so two turns cannot start at once."""
    return (
        Conversation.objects.select_for_update()
        .select_related("agent__credential", "owner")
        .get(pk=conversation_id, owner_id=user_id)
    )


def ready_provider(conversation: Conversation) -> Provider:
    agent = conversation.agent
    if not agent.enabled:
        raise TurnRefused("AGENT_UNAVAILABLE", f"The agent “{agent.name}” is switched off. Ask an admin.")
    if not Agent.objects.usable_by(conversation.owner).filter(pk=agent.pk).exists():
        raise TurnRefused("AGENT_UNAVAILABLE", f"You may no longer use the agent “{agent.name}”.")
    try:
        return agent.provider()
    except (UpstreamError, ValueError) as exc:
        raise TurnRefused("AGENT_UNAVAILABLE", str(exc)) from exc


def mark_abandoned_replies(conversation_id: str) -> None:
    """Replies of the conversation left `streaming` by a process that is gone become `interrupted`."""
    interrupt_abandoned(Message.objects.filter(conversation_id=conversation_id))


def interrupt_abandoned(replies: QuerySet[Message]) -> int:
    """Mark those of `replies` left `streaming` by a process that is gone as `interrupted`; how many.

    `updated_at` records when, so that every process's sweep can tell its sockets.
    """
    now = timezone.now()
    return replies.filter(
        status=Message.Status.STREAMING, updated_at__lt=now - timedelta(seconds=ALIVE_SECONDS)
    ).update(
        status=Message.Status.INTERRUPTED,
        error="The reply was cut off when the site restarted.",
        updated_at=now,
    )


def refuse_over_limits(user_id: int, sends_message: bool) -> None:
    """Refuse a turn over the user's limits, counted over all their conversations."""
    now = timezone.now()
    if sends_message:
        sent = Message.objects.filter(
            conversation__owner_id=user_id,
            role=Message.Role.USER,
            created_at__gte=now - timedelta(seconds=60),
        ).count()
        if sent >= settings.MESSAGES_PER_MINUTE:
            raise TurnRefused(
                "MESSAGE_LIMIT",
                f"You can send at most {settings.MESSAGES_PER_MINUTE} messages a minute. "
                "Wait a moment and try again.",
            )
    running = Message.objects.filter(
        conversation__owner_id=user_id,
        status=Message.Status.STREAMING,
        updated_at__gte=now - timedelta(seconds=ALIVE_SECONDS),
    ).count()
    if running >= settings.RUNNING_REPLIES_PER_USER:
        raise TurnRefused(
            "REPLY_LIMIT",
            f"You already have {running} replies running (the limit is {settings.RUNNING_REPLIES_PER_USER}). "
            "Wait for one to finish or stop it.",
        )


def refuse_if_busy(conversation: Conversation) -> None:
    mark_abandoned_replies(conversation.pk)
    if conversation.messages.filter(status=Message.Status.STREAMING).exists():
        raise TurnRefused("BUSY", "A reply is still running in this conversation. Stop it or wait for it.")


@functools.cache
def known_timezones() -> frozenset[str]:
    """The IANA zone names this system has. Listing them walks the zoneinfo files (~25 ms): once."""
    return frozenset(zoneinfo.available_timezones())


def turn_for(
    conversation: Conversation, text: str, timezone_name: str = "", files: list[Attachment] | None = None
) -> Turn:
    owner = conversation.owner
    return Turn(
        text=text,
        user=UserRef(id=owner.pk, username=owner.get_username(), email=owner.email),
        upstream_conversation_id=conversation.upstream_conversation_id,
        timezone=timezone_name if timezone_name in known_timezones() else "",
        files=tuple(turn_file(attachment) for attachment in files or ()),
    )


@database_sync_to_async
def checkpoint(states: list[tuple[int, str, int, list[dict[str, str]]]]) -> None:
    """Save (message id, text, seq, tool calls) of running replies, in one transaction.

    A reply that has meanwhile been saved in its final status is left alone.
    """
    now = timezone.now()
    with transaction.atomic():
        for message_id, content, seq, tool_calls in states:
            Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
                content=content, seq=seq, tool_calls=tool_calls, updated_at=now
            )


@database_sync_to_async
def finish(run: ReplyRun, status: str, error: str) -> None:
    Message.objects.filter(pk=run.message_id).update(
        content=run.markdown.text,
        seq=run.seq,
        tool_calls=run.tool_calls,
        approval=run.approval,
        status=status,
        error=error,
        upstream_run_id=run.upstream_run_id,
        # A reply resumed after an approval keeps the time of its very first words.
        first_text_at=Coalesce("first_text_at", Value(run.first_text_at, output_field=DateTimeField())),
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if run.upstream_conversation_id:
        Conversation.objects.filter(pk=run.conversation_id).update(
            upstream_conversation_id=run.upstream_conversation_id
        )


# The reply itself.


async def start_reply(
    conversation_id: str,
    user_id: int,
    text: str,
    client_id: str = "",
    timezone_name: str = "",
    attachment_ids: list[str] | tuple[str, ...] = (),
) -> ReplyRun:
    """Save the user's message, then stream the agent's reply to every watcher."""
    channel = await hub.ensure_channel()
    user_message, reply, provider, shown_files, turn = await save_turn(
        conversation_id, user_id, text, channel, timezone_name, attachment_ids
    )
    await hub.broadcast(conversation_id, user_message_frame(user_message, client_id, shown_files))
    return await launch(conversation_id, reply, provider, turn, replaces=None)


def user_message_frame(
    message: Message, client_id: str, attachments: list[dict[str, Any]], replaces: int | None = None
) -> str:
    payload = {
        "type": "user_message",
        "client_id": client_id,
        "message": {
            "id": message.pk,
            "role": message.role,
            "text": message.content,
            "html": render_markdown(message.content),
            "status": message.status,
            "attachments": attachments,
        },
    }
    if replaces is not None:
        payload["replaces"] = replaces
    return frame(payload)


async def continue_after_approval(
    conversation_id: str, user_id: int, message_id: int, decisions: Any
) -> ReplyRun:
    """Resume a paused reply with the user's decision on each of its actions."""
    channel = await hub.ensure_channel()
    reply, provider, turn = await save_decisions(conversation_id, user_id, message_id, decisions, channel)
    return await launch(conversation_id, reply, provider, turn, replaces=None)


async def retry_reply(
    conversation_id: str, user_id: int, message_id: int, regenerate: bool = False
) -> ReplyRun:
    """Answer the last question again in place of reply `message_id`."""
    channel = await hub.ensure_channel()
    reply, provider, turn = await save_retry(conversation_id, user_id, message_id, channel, regenerate)
    return await launch(conversation_id, reply, provider, turn, replaces=message_id)


async def edit_and_resend(
    conversation_id: str,
    user_id: int,
    message_id: int,
    text: str,
    client_id: str = "",
    timezone_name: str = "",
) -> ReplyRun:
    """Replace the last user message with `text` and stream a new reply to it."""
    channel = await hub.ensure_channel()
    user_message, reply, old_reply_id, provider, shown_files, turn = await save_edit(
        conversation_id, user_id, message_id, text, channel, timezone_name
    )
    await hub.broadcast(
        conversation_id, user_message_frame(user_message, client_id, shown_files, replaces=message_id)
    )
    return await launch(conversation_id, reply, provider, turn, replaces=old_reply_id)


async def launch(
    conversation_id: str, reply: Message, provider: Provider, turn: Turn, replaces: int | None
) -> ReplyRun:
    run = ReplyRun(message_id=reply.pk, conversation_id=conversation_id, hub=hub)
    if turn.approval is None:
        started = {"type": "reply.started", "message_id": run.message_id, "seq": 0, "replaces": replaces}
    else:  # the paused reply continues where it stopped
        run.markdown.replace(reply.content)
        run.tool_calls, run.approval = reply.tool_calls, reply.approval
        run.seq = reply.seq + 1
        started = run.snapshot()
    run.saved_seq = run.seq  # the checkpointer saves what comes after this
    hub.runs[run.message_id] = run
    await hub.broadcast(conversation_id, frame(started))
    run.task = asyncio.create_task(relay_reply(run, provider, turn), name=f"reply-{run.message_id}")
    hub.ensure_checkpointer()
    return run


async def relay_reply(run: ReplyRun, provider: Provider, turn: Turn) -> None:
    """Stream the platform's reply; always ends with the message saved in a final status."""
    status, error = Message.Status.COMPLETE, ""
    limited = within_limits(
        stream_with_retries(provider, turn),
        max_chars=settings.UPSTREAM_MAX_REPLY_CHARS,
        idle_seconds=settings.UPSTREAM_IDLE_SECONDS,
        total_seconds=settings.UPSTREAM_MAX_REPLY_SECONDS,
        chars_so_far=len(run.markdown.text),
    )
    try:
        async with aclosing(limited) as events:
            async for event in events:
                payload = run.apply(event)
                if payload is not None:
                    await run.hub.publish(run, frame(payload))
        if run.approval.get("status") == "pending":
            status = Message.Status.PAUSED
        elif not run.finished:
            status, error = Message.Status.ERROR, "The platform ended the reply without finishing it."
    except UpstreamError as exc:
        status, error = Message.Status.ERROR, exc.message[:MAX_ERROR_CHARS]
    except asyncio.CancelledError:
        if not run.stop_requested:
            await conclude(
                run, Message.Status.INTERRUPTED, "The site was restarting and the reply was cut off."
            )
            raise
        status = Message.Status.STOPPED
    except Exception:
        logger.exception("Relaying reply %s failed", run.message_id)
        status, error = Message.Status.ERROR, INTERNAL_ERROR
    await conclude(run, status, error)


async def keep_checkpointing(hub: Hub) -> None:
    """Save the partial replies now and then, and show quiet ones are alive.

    One task and one database call per interval for all the replies this event
    loop runs: a task and a call per reply cost more than relaying the reply's
    deltas once a few hundred ran at once. The state is copied here, in the
    loop, and written in the database thread.
    """
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(settings.REPLY_CHECKPOINT_SECONDS)
        runs = [run for run in hub.runs.values() if run.task is not None and run.task.get_loop() is loop]
        if not runs:
            return
        now = time.monotonic()
        states = []
        for run in runs:
            if run.seq != run.saved_seq or now - run.saved_at >= ALIVE_SECONDS / 3:
                run.saved_seq, run.saved_at = run.seq, now
                tool_calls = [dict(call) for call in run.tool_calls]
                states.append((run.message_id, run.markdown.text, run.seq, tool_calls))
        if states:
            try:
                await checkpoint(states)
            except Exception:
                logger.exception("Checkpoint of %d replies failed", len(states))


def start_sweeping() -> None:
    """Start the sweep in the running event loop: Daphne's, when it starts, before any socket connects."""
    hub.ensure_sweeper()


async def keep_sweeping(hub: Hub) -> None:
    """Sweep every SWEEP_SECONDS for as long as the event loop runs; a failed round is logged, not fatal."""
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            await sweep(hub)
        except Exception:
            logger.exception("The sweep for replies of dead processes failed")


async def sweep(hub: Hub) -> None:
    """Interrupt the replies of dead processes, and tell this process's sockets of every interruption.

    Each process tells only its own sockets, of interruptions since its last
    sweep, whoever marked them (this sweep, another process's, or a visit that
    found the reply abandoned): so a page learns it whichever process serves it,
    with no message between processes, which a dead process could not answer.
    """
    started, ended = await sweep_replies(list(hub.runs), list(hub.watchers), hub.last_swept)
    hub.last_swept = started
    for state in ended:
        await hub.broadcast(state["conversation_id"], frame(state["frame"]))


@database_sync_to_async
def sweep_replies(
    running_here: list[int], watched: list[str], since: datetime | None
) -> tuple[datetime, list[dict[str, Any]]]:
    """(now, the `reply.ended` of each reply in `watched` conversations interrupted since `since`).

    `since` is moved back by one sweep, against clocks and commits a little
    apart; a page told twice shows the same ending twice.
    """
    now = timezone.now()
    interrupt_abandoned(Message.objects.exclude(pk__in=running_here))
    if not watched:
        return now, []
    since = (since or now) - timedelta(seconds=SWEEP_SECONDS)
    interrupted = Message.objects.filter(
        conversation_id__in=watched, status=Message.Status.INTERRUPTED, updated_at__gte=since
    ).exclude(pk__in=running_here)
    return now, [{"conversation_id": str(m.conversation_id), "frame": saved_state(m)} for m in interrupted]


async def conclude(run: ReplyRun, status: str, error: str) -> None:
    run.seq += 1  # the end is an event too: the saved seq is the one `reply.ended` carries
    try:
        await finish(run, status, error)
    finally:
        run.hub.runs.pop(run.message_id, None)
        if run.flusher is not None:
            run.flusher.cancel()
        ended = {
            "type": "reply.ended",
            "message_id": run.message_id,
            "seq": run.seq,
            "status": status,
            "text": run.markdown.text,
            "html": render_markdown(run.markdown.text),
            "error": error,
            "tool_calls": run.tool_calls,
            "approval": run.approval,
        }
        await run.hub.publish(run, frame(ended))
        await run.hub.flush(run)


async def interrupt_all() -> None:
    """Save every reply running in this process as interrupted (the process is shutting down)."""
    tasks = [run.task for run in hub.runs.values() if run.task is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def stop_reply(conversation_id: str, message_id: int | None = None) -> bool:
    """Stop the conversation's running reply, in whichever process runs it."""
    if hub.stop(conversation_id, message_id):
        return True
    return await hub.ask_owner(conversation_id, {"type": "relay.stop"})


@database_sync_to_async
def streaming_reply_owner(conversation_id: str) -> tuple[int, str] | None:
    """(message id, relay channel) of the conversation's running reply, if any."""
    mark_abandoned_replies(conversation_id)
    return (
        Message.objects.filter(conversation_id=conversation_id, status=Message.Status.STREAMING)
        .exclude(relay_channel="")
        .values_list("pk", "relay_channel")
        .first()
    )


@database_sync_to_async
def reply_state(conversation_id: str, message_id: int) -> dict[str, Any] | None:
    """The saved state of a reply: `reply.ended` once finished, else a `reply.snapshot`."""
    mark_abandoned_replies(conversation_id)
    message = Message.objects.filter(
        pk=message_id, conversation_id=conversation_id, role=Message.Role.ASSISTANT
    ).first()
    if message is None:
        return None
    return saved_state(message)


def saved_state(message: Message) -> dict[str, Any]:
    """A reply's saved state as a frame: `reply.ended` once finished, else a `reply.snapshot`."""
    return {
        "type": "reply.ended" if message.is_finished else "reply.snapshot",
        "message_id": message.pk,
        "seq": message.seq,
        "status": message.status,
        "text": message.content,
        "html": render_markdown(message.content),
        "tail": "",
        "error": message.error,
        "tool_calls": message.tool_calls,
        "approval": message.approval,
    }


async def resume(conversation_id: str, message_id: int, send: SendFrame, reply_to: str = "") -> bool:
    """Send the current state of a reply to one socket; False when there is no such reply."""
    run = hub.runs.get(message_id)
    if run is not None and run.conversation_id == conversation_id:
        await send(frame(run.snapshot()))
        return True
    state = await reply_state(conversation_id, message_id)
    if state is None:
        return False
    running_elsewhere = state["type"] == "reply.snapshot" and reply_to
    if not running_elsewhere or not await hub.ask_owner(
        conversation_id, {"type": "relay.watch", "reply_to": reply_to}
    ):
        await send(frame(state))
    return True
