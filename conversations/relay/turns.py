"""The turn transactions: each saves what a turn changes, before anything goes upstream.

Each runs in a worker thread, outside the event loop, under a lock on the
conversation so that two turns cannot start at once, and returns a
`PreparedTurn`: what the relay needs to stream the reply.
"""

import functools
import zoneinfo
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.providers import Provider, Turn, UpstreamError, UserRef
from conversations.attachments import AttachmentsRefused, attachment_view, link_pending, turn_file
from conversations.models import Attachment, Conversation, Message, title_from
from conversations.protocol import RefusalCode
from conversations.relay.policy import (
    TurnRefused,
    decisions_problem,
    ready_provider,
    refuse_if_busy,
    refuse_over_limits,
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


def locked_conversation(conversation_id: str, user_id: int) -> Conversation:
    """The user's conversation, locked until the transaction ends so two turns cannot start at once."""
    return (
        Conversation.objects.select_for_update()
        .select_related("agent__credential", "owner")
        .get(pk=conversation_id, owner_id=user_id)
    )


def new_streaming_reply(conversation: Conversation, relay_channel: str) -> Message:
    return conversation.messages.create(
        role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, relay_channel=relay_channel
    )


@database_sync_to_async
def save_turn(
    conversation_id: str,
    *,
    user_id: int,
    text: str,
    relay_channel: str,
    timezone_name: str = "",
    attachment_ids: list[str] | tuple[str, ...] = (),
) -> PreparedTurn:
    """Save the user's message with its pending files and an empty streaming reply, before going upstream."""
    attachment_ids = list(dict.fromkeys(attachment_ids))
    with transaction.atomic():
        conversation = locked_conversation(conversation_id, user_id)
        provider = ready_provider(conversation)
        problem = provider.input_problem(text, len(attachment_ids))
        if problem:
            raise TurnRefused(RefusalCode.INVALID_INPUT, problem)
        refuse_if_busy(conversation)
        refuse_over_limits(user_id, sends_message=True)
        user_message = conversation.messages.create(role=Message.Role.USER, content=text)
        try:
            files = link_pending(conversation, user_message, attachment_ids)
        except AttachmentsRefused as refused:
            raise TurnRefused(RefusalCode.INVALID_INPUT, refused.message) from None
        reply = new_streaming_reply(conversation, relay_channel)
        if not conversation.title:
            conversation.title = title_from(text or ", ".join(a.name for a in files))
        conversation.save(update_fields=["title", "updated_at"])
    return PreparedTurn(
        reply=reply,
        provider=provider,
        turn=turn_for(conversation, text, timezone_name, files),
        user_message=user_message,
        shown_files=[attachment_view(a) for a in files],
    )


@database_sync_to_async
def save_retry(
    conversation_id: str, *, user_id: int, message_id: int, relay_channel: str, regenerate: bool = False
) -> PreparedTurn:
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
                RefusalCode.NOT_FOUND,
                "Only the last reply can be regenerated, once it has ended."
                if regenerate
                else "Only the last reply can be retried, once it has failed or stopped.",
            )
        provider = ready_provider(conversation)
        refuse_over_limits(user_id, sends_message=False)
        last_two[0].delete()
        reply = new_streaming_reply(conversation, relay_channel)
        conversation.save(update_fields=["updated_at"])
    files = list(last_two[1].attachments.all())
    return PreparedTurn(
        reply=reply,
        provider=provider,
        turn=turn_for(conversation, last_two[1].content, files=files),
        replaces=message_id,
    )


@database_sync_to_async
def save_edit(
    conversation_id: str,
    *,
    user_id: int,
    message_id: int,
    text: str,
    relay_channel: str,
    timezone_name: str = "",
) -> PreparedTurn:
    """Replace the last user message (and the reply to it) with the edited text and a new streaming reply.

    The message's files stay with it.
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
            raise TurnRefused(RefusalCode.NOT_FOUND, "Only your last message can be edited.")
        provider = ready_provider(conversation)
        files = list(edited.attachments.all())
        problem = provider.input_problem(text, len(files))
        if problem:
            raise TurnRefused(RefusalCode.INVALID_INPUT, problem)
        refuse_if_busy(conversation)
        refuse_over_limits(user_id, sends_message=True)
        old_reply_id = old_reply.pk if old_reply else None
        if old_reply is not None:
            old_reply.delete()
        user_message = conversation.messages.create(role=Message.Role.USER, content=text)
        edited.attachments.update(message=user_message)
        edited.delete()
        reply = new_streaming_reply(conversation, relay_channel)
        conversation.save(update_fields=["updated_at"])
    return PreparedTurn(
        reply=reply,
        provider=provider,
        turn=turn_for(conversation, text, timezone_name, files),
        user_message=user_message,
        shown_files=[attachment_view(a) for a in files],
        replaces=old_reply_id,
    )


@database_sync_to_async
def save_decisions(
    conversation_id: str, *, user_id: int, message_id: int, decisions: Any, relay_channel: str
) -> PreparedTurn:
    """Mark a paused reply's approval resolved with the user's decisions; it streams again."""
    with transaction.atomic():
        conversation = locked_conversation(conversation_id, user_id)
        reply = conversation.messages.filter(pk=message_id, status=Message.Status.PAUSED).first()
        if reply is None or reply.approval.get("status") != "pending":
            raise TurnRefused(RefusalCode.NOT_FOUND, "This reply is not waiting for a decision.")
        problem = decisions_problem(reply.approval["actions"], decisions)
        if problem:
            raise TurnRefused(RefusalCode.INVALID_INPUT, problem)
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
            reply.content, reply.seq = text, point.get("seq", reply.seq)
            turn = replace(turn_for(reply.conversation, ""), resume_from={**point, "text": text})
            taken.append(PreparedTurn(reply=reply, provider=provider, turn=turn))
    return taken
