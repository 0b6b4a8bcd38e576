"""The sweep for replies of dead processes: each becomes `interrupted`, and every page watching it is told."""

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from conversations.models import Message
from conversations.relay.policy import interrupt_abandoned
from conversations.relay.state import saved_state
from conversations.relay.turns import claim_abandoned_replies

if TYPE_CHECKING:
    from conversations.relay.fanout import Hub

logger = logging.getLogger(__name__)


async def keep_sweeping(hub: "Hub") -> None:
    """Sweep every REPLY_SWEEP_SECONDS while the event loop runs; a failed round is logged, not fatal.

    A dead process's reply is interrupted, and every page watching it told,
    within REPLY_ALIVE_SECONDS and two sweeps.
    """
    while True:
        await asyncio.sleep(settings.REPLY_SWEEP_SECONDS)
        try:
            await sweep(hub)
        except Exception:
            logger.exception("The sweep for replies of dead processes failed")


async def sweep(hub: "Hub") -> None:
    """Interrupt the replies of dead processes, and tell this process's sockets of every interruption.

    Each process tells only its own sockets, of interruptions since its last
    sweep, whoever marked them (this sweep, another process's, or a visit that
    found the reply abandoned): so a page learns it whichever process serves it,
    with no message between processes, which a dead process could not answer.
    """
    if hub.taking_turns:
        await take_over_abandoned(hub)
    started, endings = await sweep_replies(list(hub.runs), list(hub.watchers), hub.last_swept)
    hub.last_swept = started
    for conversation_id, ended in endings:
        await hub.broadcast(conversation_id, ended)


async def take_over_abandoned(hub: "Hub") -> None:
    """Go on with the replies of dead processes that their platform can replay (workflow chat)."""
    from conversations.relay.replies import take_over  # replies imports fanout, which imports this module

    channel = await hub.ensure_channel()
    for prepared in await claim_abandoned_replies(channel, list(hub.runs)):
        await take_over(prepared)


@database_sync_to_async
def sweep_replies(
    running_here: list[int], watched: list[str], since: datetime | None
) -> tuple[datetime, list[tuple[str, str]]]:
    """(now, [(conversation id, `reply.ended`)]) of replies in `watched` conversations ended since `since`.

    `since` is moved back by one sweep, against clocks and commits a little
    apart; a page told twice shows the same ending twice.
    """
    now = timezone.now()
    interrupt_abandoned(Message.objects.exclude(pk__in=running_here))
    if not watched:
        return now, []
    since = (since or now) - timedelta(seconds=settings.REPLY_SWEEP_SECONDS)
    interrupted = Message.objects.filter(
        conversation_id__in=watched, status=Message.Status.INTERRUPTED, updated_at__gte=since
    ).exclude(pk__in=running_here)
    return now, [(str(m.conversation_id), saved_state(m)) for m in interrupted]
