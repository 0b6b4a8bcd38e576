"""The turn transactions: each saves what a turn changes, before anything goes upstream.

Each runs in a worker thread, outside the event loop, under a lock on the
conversation so that two turns cannot start at once, and returns a
`PreparedTurn`: what the relay needs to stream the reply.
"""

import functools
import zoneinfo
from dataclasses import dataclass, replace
from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction

from agents.providers import Provider, Turn, UserRef
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


# Why a request for decisions takes none any more, by its `approval.status`.
CLOSED_APPROVALS = {
    "resolved": "This request was already answered (perhaps in another tab).",
    "replaced": "A newer message replaced this request: the agent no longer waits for it.",
    "expired": "This request expired on the platform: the agent no longer waits for it.",
}


def close_pending_approvals(conversation: Conversation) -> None:
    """A new message replaces any request for decisions still open: its paused run is left behind."""
    for reply in conversation.messages.filter(status=Message.Status.PAUSED, approval__status="pending"):
        reply.approval = {**reply.approval, "status": "replaced"}
        reply.save(update_fields=["approval", "updated_at"])


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
        close_pending_approvals(conversation)
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
        close_pending_approvals(conversation)
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
        reply = conversation.messages.filter(pk=message_id, role=Message.Role.ASSISTANT).first()
        if reply is None or not reply.approval:
            raise TurnRefused(RefusalCode.NOT_FOUND, "This reply is not waiting for a decision.")
        if reply.status != Message.Status.PAUSED or reply.approval.get("status") != "pending":
            raise TurnRefused(
                RefusalCode.APPROVAL_CLOSED,
                CLOSED_APPROVALS.get(reply.approval.get("status"), CLOSED_APPROVALS["resolved"]),
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
        reply.approval = {**reply.approval, "status": "resolved", "decisions": chosen}
        reply.status, reply.relay_channel = Message.Status.STREAMING, relay_channel
        reply.save(update_fields=["approval", "status", "relay_channel", "updated_at"])
    turn = replace(
        turn_for(conversation, ""), approval={"request_id": reply.approval["request_id"], "decisions": chosen}
    )
    return PreparedTurn(reply=reply, provider=provider, turn=turn)
