"""A reply's saved state, read from the database for sockets that were not watching it stream."""

from typing import Any

from channels.db import database_sync_to_async

from conversations.models import Message
from conversations.relay.policy import mark_abandoned_replies
from conversations.rendering import render_markdown


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
