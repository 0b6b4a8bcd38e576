"""The reply itself: streamed from the platform to every watcher once `starts` saved its turn; stop, resume.

Deltas go straight from the adapter to the sockets of this process (no
database write and no channel-layer hop per delta). The partial text is
checkpointed every REPLY_CHECKPOINT_SECONDS and the final state written once.
Each reply numbers its events (`seq`); a socket that (re)connects gets a
snapshot of the reply so far and then every later event, so nothing is
missed or shown twice.
"""

import asyncio
import logging
import time
from contextlib import aclosing

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agents.providers import Provider, Turn, UpstreamError
from agents.providers.limits import within_limits
from agents.providers.retry import stream_with_retries
from conversations import protocol
from conversations.models import Message
from conversations.protocol import SendFrame
from conversations.relay import fanout, outbox
from conversations.relay.checkpoints import finish, still_owned
from conversations.relay.run import ReplyRun
from conversations.relay.state import saved_reply, saved_state
from conversations.relay.turns import PreparedTurn
from conversations.reply_parts import after_decisions

logger = logging.getLogger(__name__)

# An error shown under a reply: the site's words and at most a few hundred of the platform's.
MAX_ERROR_CHARS = 600

INTERNAL_ERROR = gettext_lazy("Something went wrong on this site while relaying the reply. Try again.")
APPROVAL_EXPIRED = gettext_lazy(
    "The platform no longer had this paused run (the request may have expired), so your decisions "
    "were not applied. Send a new message to go on."
)


async def launch(conversation_id: str, prepared: PreparedTurn, replaces: int | None) -> ReplyRun:
    hub, reply = fanout.hub, prepared.reply
    run = ReplyRun(
        message_id=reply.pk, conversation_id=conversation_id, hub=hub, relay_channel=reply.relay_channel
    )
    if prepared.turn.approval is None:
        started = protocol.reply_started(
            message_id=run.message_id, replaces=replaces, versions=prepared.reply_versions
        )
    else:  # the paused reply continues where it stopped, in a new part after the decisions
        run.load(after_decisions(reply.content), reply.approval, reply.earlier_approvals)
        run.tool_calls = reply.tool_calls
        run.seq = reply.seq + 1
        started = run.snapshot()
    run.saved_seq = run.seq  # the checkpointer saves what comes after this
    hub.runs[run.message_id] = run
    await hub.announce(conversation_id, started, run)
    run.task = fanout.background(
        relay_reply(run, prepared.provider, prepared.turn), f"reply-{run.message_id}"
    )
    hub.ensure_checkpointer()
    return run


async def take_over(prepared: PreparedTurn) -> ReplyRun:
    """Go on here with a reply whose process died, from its resume point (the sweep claimed it)."""
    hub, reply = fanout.hub, prepared.reply
    run = ReplyRun(
        message_id=reply.pk,
        conversation_id=str(reply.conversation_id),
        hub=hub,
        relay_channel=reply.relay_channel,
    )
    run.load(reply.content, reply.approval, reply.earlier_approvals)
    run.tool_calls, run.seq, run.resume_point = reply.tool_calls, reply.seq, reply.upstream_resume
    run.saved_seq = run.seq
    hub.take_over(run)
    # Numbered as the dead process numbered them: a page ignores the events it already has.
    await hub.announce(run.conversation_id, run.snapshot(), run)
    run.task = fanout.background(
        relay_reply(run, prepared.provider, prepared.turn), f"reply-{run.message_id}"
    )
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
                await confirm_still_owned(run)
                async with run.publishing:
                    text = run.apply(event)
                    if text is not None:
                        await run.hub.publish(run, text)
        if run.approval.get("status") == "pending":
            status = Message.Status.PAUSED
        elif not run.finished:
            status, error = Message.Status.ERROR, _("The platform ended the reply without finishing it.")
    except UpstreamError as exc:
        status, error = Message.Status.ERROR, exc.message[:MAX_ERROR_CHARS]
        if turn.approval is not None and exc.status is not None and 400 <= exc.status < 500:
            # The platform refused the decisions themselves: its paused run is gone, not this reply.
            run.approval = {**run.approval, "status": "expired"}
            error = str(APPROVAL_EXPIRED)
    except ReplyTaken:
        await let_go(run)
        return
    except asyncio.CancelledError:
        if run.lost:  # the checkpointer found the row taken (conversations.relay.checkpoints.let_go)
            await let_go(run)
            return
        if not run.stop_requested:
            await conclude(
                run, Message.Status.INTERRUPTED, _("The site was restarting and the reply was cut off.")
            )
            raise
        status = Message.Status.STOPPED
    except Exception:
        logger.exception("Relaying reply %s failed", run.message_id)
        status, error = Message.Status.ERROR, str(INTERNAL_ERROR)
    await conclude(run, status, error)


class ReplyTaken(Exception):
    """The reply's row is no longer this process's: another process interrupted or took it over."""


async def confirm_still_owned(run: ReplyRun) -> None:
    """Raise ReplyTaken if, after a stall of this process, the reply turns out to be another's.

    Checked before each event is relayed, in the database only after a stall: a
    process stopped longer than REPLY_ALIVE_SECONDS finds on waking that another
    process's sweep interrupted its reply or took it over, and must then neither
    send the events it still reads nor save over the other's.
    """
    if run.lost:
        raise ReplyTaken
    if run.ownership_stale():
        checked_at = time.monotonic()
        if not await still_owned(run):
            run.lost = True
            raise ReplyTaken
        run.owned_at = max(run.owned_at, checked_at)


async def let_go(run: ReplyRun) -> None:
    """Stop relaying a reply that is another process's now: nothing more of it is sent or saved here.

    The sockets here watching its conversation resume it, from the saved row:
    its ending, or the process that took it over.
    """
    logger.warning(
        "Reply %s was interrupted or taken over while this process stalled; left to it", run.message_id
    )
    run.lost = True
    run.stop_live()
    hub = run.hub
    hub.runs.pop(run.message_id, None)
    hub.taken_over.pop(run.message_id, None)  # taken back: the other process's frames are news again
    if run.flusher is not None:
        run.flusher.cancel()
    run.outbox.clear()
    run.remote_watchers.clear()
    for send in list(hub.watchers.get(run.conversation_id, ())):
        await hub.ask_to_resync(run.conversation_id, send)


async def conclude(run: ReplyRun, status: str, error: str) -> None:
    run.stop_live()
    run.seq += 1  # the end is an event too: the saved seq is the one `reply.ended` carries
    rendered = None
    try:
        if not await finish(run, status, error):
            await let_go(run)
            return
        # Rendering and highlighting a long reply whole takes tens of milliseconds or more:
        # off the event loop, which every other reply and socket of this process shares.
        rendered = await asyncio.to_thread(run.rendered)
    finally:
        run.hub.runs.pop(run.message_id, None)
        if not run.lost:
            await run.hub.publish(run, run.ended(status, error, rendered=rendered))
            await outbox.drain(run)


async def interrupt_all() -> None:
    """Save every reply running in this process as interrupted (the process is shutting down)."""
    tasks = [run.task for run in fanout.hub.runs.values() if run.task is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def stop_reply(conversation_id: str, message_id: int | None = None) -> bool:
    """Stop the conversation's running reply, in whichever process runs it."""
    if fanout.hub.stop(conversation_id, message_id):
        return True
    return await fanout.hub.ask_owner(conversation_id, {"type": "relay.stop"})


async def resume(
    conversation_id: str, message_id: int, send: SendFrame, *, after_seq: int = -1, reply_to: str = ""
) -> bool:
    """Send one socket what it missed of a reply after event `after_seq`; False when there is no such reply.

    A running reply's events are not kept one by one: a socket that missed any
    gets the snapshot, one that missed none gets nothing (the events to come
    reach it as they do every socket watching the conversation). A finished
    reply's `reply.ended` is always sent: the sweep marks a dead process's reply
    interrupted without a new seq.
    """
    run = fanout.hub.runs.get(message_id)
    if run is not None and run.conversation_id == conversation_id:
        if run.seq > after_seq:
            await send(run.snapshot())
        return True
    reply = await saved_reply(conversation_id, message_id)
    if reply is None:
        return False
    running_elsewhere = not reply.is_finished and reply_to
    if not running_elsewhere or not await fanout.hub.ask_owner(
        conversation_id, {"type": "relay.watch", "reply_to": reply_to, "after_seq": after_seq}
    ):
        await send(saved_state(reply))
    return True


def start_sweeping() -> None:
    """Start the sweep in the running event loop: Daphne's, when it starts, before any socket connects."""
    fanout.hub.ensure_sweeper()


async def watch(conversation_id: str, send: SendFrame, *, reply_to: str = "") -> None:
    """Send the conversation's reply events to `send` (a socket), after a snapshot of any running reply.

    `reply_to` is the socket's channel, for a reply running in another process.
    """
    await fanout.hub.watch(conversation_id, send, reply_to=reply_to)


def unwatch(conversation_id: str, send: SendFrame) -> None:
    fanout.hub.unwatch(conversation_id, send)
