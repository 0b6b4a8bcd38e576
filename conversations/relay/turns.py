"""The turn transactions: each saves what a turn changes, before anything goes upstream.

Each runs in a worker thread, outside the event loop, under a lock on the
conversation so that two turns cannot start at once, and returns a
`PreparedTurn`: what the relay needs to stream the reply. Each first runs the
caller's `check` (the socket's sign-in and access check), in the same trip to
the database thread.
"""

import functools
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agents.providers import Provider, Turn, UpstreamError, UserRef
from agents.providers.base import HistoryBudget, HistoryMessage
from conversations import access
from conversations.attachments import AttachmentsRefused, attachment_view, link_pending, turn_file
from conversations.history import turn_history
from conversations.models import Attachment, Conversation, Message, title_from
from conversations.protocol import RefusalCode
from conversations.relay.policy import (
    TurnRefused,
    decisions_problem,
    open_replies,
    ready_provider,
    refuse_if_busy,
    refuse_over_limits,
)
from conversations.reply_parts import after_decisions
from conversations.versions import (
    last_in_history_id,
)


@dataclass(frozen=True)
class PreparedTurn:
    """A saved turn, ready to stream: its streaming reply, the adapter and the turn to send it."""

    reply: Message
    provider: Provider
    turn: Turn
    # The new user message and what the page shows of its files; None when the turn sends none.
    user_message: Message | None = None
    shown_files: list[dict[str, Any]] | None = None
    # The reply the new one takes the place of (a retry's or an edit's), if any.
    replaces: int | None = None
    # Where the new messages stand among their versions (`Versions.as_dict()`), when they have earlier ones.
    reply_versions: dict[str, Any] | None = None
    user_versions: dict[str, Any] | None = None
    # The conversation's new title, when an edit of its first message changed it.
    title: str | None = None


# Why a request for decisions takes none any more, by its `approval.status`.
CLOSED_APPROVALS = {
    "resolved": gettext_lazy("This request was already answered (perhaps in another tab)."),
    "replaced": gettext_lazy("A newer message replaced this request: the agent no longer waits for it."),
    "expired": gettext_lazy("This request expired on the platform: the agent no longer waits for it."),
}


def close_pending_approvals(replies: list[Message]) -> None:
    """A new message replaces any request for decisions still open among `replies` (`open_replies`):
    its paused run is left behind."""
    for reply in replies:
        if reply.status == Message.Status.PAUSED and reply.approval.get("status") == "pending":
            reply.approval = {**reply.approval, "status": "replaced"}
            reply.save(update_fields=["approval", "updated_at"])


@functools.cache
def known_timezones() -> frozenset[str]:
    """The IANA zone names this system has. Listing them walks the zoneinfo files (~25 ms): once."""
    return frozenset(zoneinfo.available_timezones())


def turn_for(
    conversation: Conversation,
    text: str,
    timezone_name: str = "",
    files: list[Attachment] | None = None,
    history: tuple[HistoryMessage, ...] = (),
) -> Turn:
    owner = conversation.owner
    return Turn(
        text=text,
        user=UserRef(id=owner.pk, username=owner.get_username(), email=owner.email),
        upstream_conversation_id=conversation.upstream_conversation_id,
        timezone=timezone_name if timezone_name in known_timezones() else "",
        files=tuple(turn_file(attachment) for attachment in files or ()),
        history=history,
    )


def history_for(
    provider: Provider, conversation: Conversation, *, before: Message, including: Message | None = None
) -> tuple[HistoryMessage, ...]:
    """The earlier messages the turn carries: none unless the platform asks for them (`sends_history`)."""
    if not provider.sends_history:
        return ()
    budget = HistoryBudget.from_options(conversation.agent.options or {})
    return turn_history(conversation, budget, before=before, including=including)


def locked_conversation(conversation_id: str, user_id: int) -> Conversation:
    """The user's conversation, locked until the transaction ends so two turns cannot start at once.

    With its agent, credential and owner, and `agent_usable`: whether the owner may use the agent.
    """
    return (
        Conversation.objects.select_for_update()
        .select_related("agent__credential", "owner")
        .annotate(agent_usable=access.owner_may_use_agent())
        .get(pk=conversation_id, owner_id=user_id)
    )


def streaming_reply(conversation: Conversation, relay_channel: str) -> Message:
    """An unsaved empty reply in state `streaming`."""
    return Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        relay_channel=relay_channel,
    )


def new_streaming_reply(conversation: Conversation, relay_channel: str, question: Message) -> Message:
    """The saved streaming reply to `question`."""
    reply = streaming_reply(conversation, relay_channel)
    reply.parent = question
    reply.save(force_insert=True)
    return reply


def make_way_for_message(
    conversation: Conversation, provider: Provider, *, user_id: int, text: str, files: int
) -> None:
    """Refuse a new user message the platform cannot take, to a busy conversation or over the user's
    limits; else close the requests for decisions it replaces."""
    problem = provider.input_problem(text, files)
    if problem:
        raise TurnRefused(RefusalCode.INVALID_INPUT, problem)
    replies = open_replies(conversation)
    refuse_if_busy(conversation, replies)
    refuse_over_limits(user_id, sends_message=True)
    close_pending_approvals(replies)


@database_sync_to_async
def save_turn(
    conversation_id: str,
    *,
    user_id: int,
    text: str,
    relay_channel: str,
    timezone_name: str = "",
    attachment_ids: list[str] | tuple[str, ...] = (),
    check: Callable[[], None] | None = None,
) -> PreparedTurn:
    """Save the user's message with its pending files and an empty streaming reply, before going upstream."""
    if check is not None:
        check()
    attachment_ids = list(dict.fromkeys(attachment_ids))
    with transaction.atomic():
        conversation = locked_conversation(conversation_id, user_id)
        provider = ready_provider(conversation)
        make_way_for_message(conversation, provider, user_id=user_id, text=text, files=len(attachment_ids))
        user_message = conversation.messages.create(
            role=Message.Role.USER, content=text, parent_id=last_in_history_id(conversation)
        )
        try:
            files = link_pending(conversation, user_message, attachment_ids)
        except AttachmentsRefused as refused:
            raise TurnRefused(RefusalCode.INVALID_INPUT, refused.message) from None
        reply = new_streaming_reply(conversation, relay_channel, user_message)
        if not conversation.title:
            conversation.title = title_from(text or ", ".join(a.name for a in files))
        conversation.save(update_fields=["title", "updated_at"])
        return message_turn(conversation, provider, user_message, reply, timezone_name, files)


def message_turn(
    conversation: Conversation,
    provider: Provider,
    user_message: Message,
    reply: Message,
    timezone_name: str,
    files: list[Attachment],
    **shown: Any,
) -> PreparedTurn:
    """The turn of a new user message (sent, or an edit of the last): the reply to stream, the turn to
    send upstream and what the page shows (`shown`: more PreparedTurn fields)."""
    history = history_for(provider, conversation, before=user_message)
    return PreparedTurn(
        reply=reply,
        provider=provider,
        turn=turn_for(conversation, user_message.content, timezone_name, files, history),
        user_message=user_message,
        shown_files=[attachment_view(a) for a in files],
        **shown,
    )


@database_sync_to_async
def save_decisions(
    conversation_id: str,
    *,
    user_id: int,
    message_id: int,
    decisions: Any,
    relay_channel: str,
    check: Callable[[], None] | None = None,
) -> PreparedTurn:
    """Mark a paused reply's approval resolved with the user's decisions; it streams again."""
    if check is not None:
        check()
    with transaction.atomic():
        conversation = locked_conversation(conversation_id, user_id)
        reply = conversation.messages.filter(pk=message_id, role=Message.Role.ASSISTANT).first()
        if reply is None or not reply.approval:
            raise TurnRefused(RefusalCode.NOT_FOUND, _("This reply is not waiting for a decision."))
        if reply.status != Message.Status.PAUSED or reply.approval.get("status") != "pending":
            raise TurnRefused(
                RefusalCode.APPROVAL_CLOSED,
                str(CLOSED_APPROVALS.get(reply.approval.get("status"), CLOSED_APPROVALS["resolved"])),
            )
        problem = decisions_problem(reply.approval["actions"], decisions)
        if problem:
            raise TurnRefused(RefusalCode.INVALID_INPUT, problem)
        provider = ready_provider(conversation)
        refuse_over_limits(user_id, sends_message=False)
        chosen = [
            {"type": d["type"], **({"message": d["message"]} if d["type"] == "respond" else {})}
            for d in decisions
        ]
        # The text the run writes after the decisions comes after them, in a new part.
        at = len(after_decisions(reply.content))
        reply.approval = {**reply.approval, "status": "resolved", "decisions": chosen, "at": at}
        reply.status, reply.relay_channel = Message.Status.STREAMING, relay_channel
        reply.save(update_fields=["approval", "status", "relay_channel", "updated_at"])
        history = history_for(provider, conversation, before=reply, including=reply)
    turn = replace(
        turn_for(conversation, "", history=history),
        approval={"request_id": reply.approval["request_id"], "decisions": chosen},
    )
    return PreparedTurn(reply=reply, provider=provider, turn=turn)


@database_sync_to_async
def claim_abandoned_replies(relay_channel: str, running_here: list[int]) -> list[PreparedTurn]:
    """Take over the replies of dead processes that their platform can replay from a saved resume point.

    Each becomes this process's (`relay_channel`) in one update that only one
    process's sweep wins; its text and seq are cut back to the resume point.
    The others are left to be marked interrupted.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.REPLY_ALIVE_SECONDS)
    abandoned = (
        Message.objects.filter(status=Message.Status.STREAMING, updated_at__lt=cutoff)
        .exclude(upstream_resume={})
        .exclude(pk__in=running_here)
        .select_related("conversation__agent__credential", "conversation__owner")
    )
    taken = []
    for reply in abandoned:
        try:
            provider = reply.conversation.agent.provider()
        except (UpstreamError, ValueError):
            continue
        if not provider.resumable:
            continue
        point = reply.upstream_resume
        text = reply.content[: point.get("text_length", len(reply.content))]
        claimed = Message.objects.filter(
            pk=reply.pk, status=Message.Status.STREAMING, updated_at__lt=cutoff
        ).update(
            content=text,
            seq=point.get("seq", reply.seq),
            relay_channel=relay_channel,
            updated_at=timezone.now(),
        )
        if claimed:
            reply.content, reply.seq, reply.relay_channel = text, point.get("seq", reply.seq), relay_channel
            turn = replace(turn_for(reply.conversation, ""), resume_from={**point, "text": text})
            taken.append(PreparedTurn(reply=reply, provider=provider, turn=turn))
    return taken
