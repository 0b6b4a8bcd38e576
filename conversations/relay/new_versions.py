"""The turns that add another version of the last turn: a retry or regenerate of its reply, an edit
of its message. Like the others (`turns`), each saves before anything goes upstream."""

from collections.abc import Callable

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils.translation import gettext as _

from conversations.models import Conversation, Message
from conversations.protocol import RefusalCode
from conversations.relay.policy import (
    TurnRefused,
    ready_provider,
    refuse_over_limits,
)
from conversations.relay.turns import (
    PreparedTurn,
    history_for,
    locked_conversation,
    make_way_for_message,
    message_turn,
    new_streaming_reply,
    streaming_reply,
    turn_for,
)
from conversations.versions import add_version, copy_files, title_follows, versions_as_dict


def last_turn(conversation: Conversation) -> list[Message]:
    """The last two messages of the chosen path, newest first."""
    return list(conversation.chosen_path().reverse()[:2])


@database_sync_to_async
def save_retry(
    conversation_id: str,
    *,
    user_id: int,
    message_id: int,
    relay_channel: str,
    regenerate: bool = False,
    check: Callable[[], None] | None = None,
) -> PreparedTurn:
    """A new streaming reply to the same question, as the chosen version in place of the last reply.

    A retry follows a reply that failed or stopped; `regenerate` also a complete one. The earlier
    reply stays as a version.
    """
    if check is not None:
        check()
    with transaction.atomic():
        conversation = locked_conversation(conversation_id, user_id)
        last_two = last_turn(conversation)
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
                _("Only the last reply can be regenerated, once it has ended.")
                if regenerate
                else _("Only the last reply can be retried, once it has failed or stopped."),
            )
        provider = ready_provider(conversation)
        refuse_over_limits(user_id, sends_message=False)
        reply = add_version(last_two[0], streaming_reply(conversation, relay_channel))
        conversation.save(update_fields=["updated_at"])
        history = history_for(provider, conversation, before=last_two[1])
        reply_versions = versions_as_dict(reply)
    files = list(last_two[1].attachments.all())
    return PreparedTurn(
        reply=reply,
        provider=provider,
        turn=turn_for(conversation, last_two[1].content, files=files, history=history),
        replaces=message_id,
        reply_versions=reply_versions,
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
    check: Callable[[], None] | None = None,
) -> PreparedTurn:
    """The edited text as the chosen version of the last user message, and a new streaming reply to it.

    The earlier version stays, with its reply. The new version has the same files.
    """
    if check is not None:
        check()
    with transaction.atomic():
        conversation = locked_conversation(conversation_id, user_id)
        last_two = last_turn(conversation)
        if last_two and last_two[0].role == Message.Role.USER:
            edited, old_reply = last_two[0], None
        elif len(last_two) == 2 and last_two[1].role == Message.Role.USER:
            edited, old_reply = last_two[1], last_two[0]
        else:
            edited, old_reply = None, None
        if edited is None or edited.pk != message_id:
            raise TurnRefused(RefusalCode.NOT_FOUND, _("Only your last message can be edited."))
        provider = ready_provider(conversation)
        files = list(edited.attachments.all())
        make_way_for_message(conversation, provider, user_id=user_id, text=text, files=len(files))
        old_reply_id = old_reply.pk if old_reply else None
        user_message = add_version(
            edited, Message(conversation=conversation, role=Message.Role.USER, content=text)
        )
        files = copy_files(edited, user_message)
        reply = new_streaming_reply(conversation, relay_channel, user_message)
        retitled = title_follows(conversation, edited, user_message)
        conversation.save(update_fields=["title", "updated_at"])
        return message_turn(
            conversation,
            provider,
            user_message,
            reply,
            timezone_name,
            files,
            replaces=old_reply_id,
            user_versions=versions_as_dict(user_message),
            title=conversation.title if retitled else None,
        )
