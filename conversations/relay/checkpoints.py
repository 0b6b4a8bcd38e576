"""Saving running replies: a checkpoint of all of them now and then, and each one's final state once."""

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.relay.run import ReplyRun

if TYPE_CHECKING:
    from conversations.relay.fanout import Hub

logger = logging.getLogger(__name__)


def owned_reply(message_id: int, relay_channel: str) -> QuerySet[Message]:
    """The reply's row while it is still streaming in the process on `relay_channel` (empty: any)."""
    rows = Message.objects.filter(pk=message_id, status=Message.Status.STREAMING)
    return rows.filter(relay_channel=relay_channel) if relay_channel else rows


@database_sync_to_async
def checkpoint(states: list[tuple[int, str, str, int, list[dict[str, str]], dict[str, Any]]]) -> list[int]:
    """Save (message id, relay channel, text, seq, tool calls, resume point) of running replies, in one
    transaction; the ids of those no longer this process's, which are left alone.

    A reply is no longer this process's once it was saved in its final status, or another
    process's sweep interrupted it or took it over while this process was stalled.
    """
    now = timezone.now()
    lost = []
    with transaction.atomic():
        for message_id, relay_channel, content, seq, tool_calls, resume_point in states:
            if not owned_reply(message_id, relay_channel).update(
                content=content, seq=seq, tool_calls=tool_calls, upstream_resume=resume_point, updated_at=now
            ):
                lost.append(message_id)
    return lost


@database_sync_to_async
def still_owned(run: ReplyRun) -> bool:
    """Whether the reply is still this process's; if so its row is refreshed, so no sweep takes it now."""
    return bool(owned_reply(run.message_id, run.relay_channel).update(updated_at=timezone.now()))


@database_sync_to_async
def finish(run: ReplyRun, status: str, error: str) -> bool:
    """Save the reply's final state; False if it is no longer this process's (nothing is saved then)."""
    saved = owned_reply(run.message_id, run.relay_channel).update(
        content=run.markdown.text,
        seq=run.seq,
        tool_calls=run.tool_calls,
        approval=run.approval,
        earlier_approvals=run.earlier_approvals,
        usage=run.usage,
        status=status,
        error=error,
        upstream_run_id=run.upstream_run_id,
        # A reply resumed after an approval keeps the time of its very first words.
        first_text_at=Coalesce("first_text_at", Value(run.first_text_at, output_field=DateTimeField())),
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if saved and run.upstream_conversation_id:
        Conversation.objects.filter(pk=run.conversation_id).update(
            upstream_conversation_id=run.upstream_conversation_id
        )
    return bool(saved)


async def keep_checkpointing(hub: "Hub") -> None:
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
        states, saved = [], []
        for run in runs:
            if run.seq != run.saved_seq or now - run.saved_at >= settings.REPLY_ALIVE_SECONDS / 3:
                run.saved_seq, run.saved_at = run.seq, now
                tool_calls = [dict(call) for call in run.tool_calls]
                states.append(
                    (
                        run.message_id,
                        run.relay_channel,
                        run.markdown.text,
                        run.seq,
                        tool_calls,
                        run.resume_point,
                    )
                )
                saved.append(run)
        if states:
            try:
                lost = set(await checkpoint(states))
            except Exception:
                logger.exception("Checkpoint of %d replies failed", len(states))
                continue
            for run in saved:
                if run.message_id in lost:
                    let_go(run)
                else:
                    run.owned_at = max(run.owned_at, now)


def let_go(run: ReplyRun) -> None:
    """Stop relaying a reply that is no longer this process's (its task then lets go of it)."""
    if not (run.lost or run.concluded) and run.task is not None and not run.task.done():
        run.lost = True
        run.task.cancel()
