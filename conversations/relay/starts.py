"""Where each kind of turn begins: save it before anything goes upstream (`turns`,
`new_versions`), tell the conversation's sockets of the user's message, launch the reply."""

from collections.abc import Callable
from typing import Any

from conversations import protocol
from conversations.relay import fanout
from conversations.relay.new_versions import save_edit, save_retry
from conversations.relay.replies import launch
from conversations.relay.run import ReplyRun
from conversations.relay.turns import PreparedTurn, save_decisions, save_turn


async def start_reply(
    conversation_id: str,
    *,
    user_id: int,
    text: str,
    client_id: str = "",
    timezone_name: str = "",
    attachment_ids: list[str] | tuple[str, ...] = (),
    check: Callable[[], None] | None = None,
) -> ReplyRun:
    """Save the user's message, then stream the agent's reply to every watcher.

    `check` (and the same argument of the other turns) is the caller's own check, run first in
    the turn's database call; what it raises refuses the turn before anything is saved.
    """
    channel = await fanout.hub.ensure_channel()
    prepared = await save_turn(
        conversation_id,
        user_id=user_id,
        text=text,
        relay_channel=channel,
        timezone_name=timezone_name,
        attachment_ids=attachment_ids,
        check=check,
    )
    await fanout.hub.announce(conversation_id, user_message_frame(prepared, client_id=client_id))
    return await launch(conversation_id, prepared, replaces=None)


def user_message_frame(prepared: PreparedTurn, *, client_id: str, replaces: int | None = None) -> str:
    message = prepared.user_message
    if message is None:
        raise ValueError("This turn sends no user message.")
    return protocol.user_message(
        message_id=message.pk,
        role=message.role,
        text=message.content,
        status=message.status,
        attachments=prepared.shown_files or [],
        client_id=client_id,
        replaces=replaces,
        versions=prepared.user_versions,
        title=prepared.title,
    )


async def continue_after_approval(
    conversation_id: str,
    *,
    user_id: int,
    message_id: int,
    decisions: Any,
    check: Callable[[], None] | None = None,
) -> ReplyRun:
    """Resume a paused reply with the user's decision on each of its actions."""
    channel = await fanout.hub.ensure_channel()
    prepared = await save_decisions(
        conversation_id,
        user_id=user_id,
        message_id=message_id,
        decisions=decisions,
        relay_channel=channel,
        check=check,
    )
    return await launch(conversation_id, prepared, replaces=None)


async def retry_reply(
    conversation_id: str,
    *,
    user_id: int,
    message_id: int,
    regenerate: bool = False,
    check: Callable[[], None] | None = None,
) -> ReplyRun:
    """Answer the last question again in place of reply `message_id`."""
    channel = await fanout.hub.ensure_channel()
    prepared = await save_retry(
        conversation_id,
        user_id=user_id,
        message_id=message_id,
        relay_channel=channel,
        regenerate=regenerate,
        check=check,
    )
    return await launch(conversation_id, prepared, replaces=prepared.replaces)


async def edit_and_resend(
    conversation_id: str,
    *,
    user_id: int,
    message_id: int,
    text: str,
    client_id: str = "",
    timezone_name: str = "",
    check: Callable[[], None] | None = None,
) -> ReplyRun:
    """Replace the last user message with `text` and stream a new reply to it."""
    channel = await fanout.hub.ensure_channel()
    prepared = await save_edit(
        conversation_id,
        user_id=user_id,
        message_id=message_id,
        text=text,
        relay_channel=channel,
        timezone_name=timezone_name,
        check=check,
    )
    await fanout.hub.announce(
        conversation_id, user_message_frame(prepared, client_id=client_id, replaces=message_id)
    )
    return await launch(conversation_id, prepared, replaces=prepared.replaces)
