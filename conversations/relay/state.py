"""A reply's saved state, read from the database for sockets that were not watching it stream."""

from channels.db import database_sync_to_async

from conversations import protocol, reply_parts
from conversations.models import Message
from conversations.relay.policy import mark_abandoned_replies


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
def saved_reply(conversation_id: str, message_id: int) -> Message | None:
    """The saved reply `message_id` of the conversation, abandoned replies marked interrupted first."""
    mark_abandoned_replies(conversation_id)
    return Message.objects.filter(
        pk=message_id, conversation_id=conversation_id, role=Message.Role.ASSISTANT
    ).first()


def saved_state(message: Message) -> str:
    """A reply's saved state as a frame: `reply.ended` once finished, else a `reply.snapshot`."""
    html, parts = reply_parts.rendered_parts(message.content, message.approval, message.earlier_approvals)
    if message.is_finished:
        return protocol.reply_ended(
            message_id=message.pk,
            seq=message.seq,
            status=message.status,
            text=message.content,
            html=html,
            error=message.error,
            tool_calls=message.tool_calls,
            approval=message.approval,
            usage=message.usage,
            parts=parts,
        )
    return protocol.reply_snapshot(
        message_id=message.pk,
        seq=message.seq,
        text=message.content,
        html=html,
        tail="",
        live="",
        tool_calls=message.tool_calls,
        approval=message.approval,
        parts=parts,
    )
