"""Versions of a turn: a regenerated reply, an edited message (the data model is on `Message`).

The turn functions (`relay.turns`) add versions; `choose_version` switches the
chosen path to another one; `versions_of` says what the chat page shows of
each message's versions.
"""

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import NamedTuple

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from conversations.access import NotFound
from conversations.history import earlier_than
from conversations.models import Attachment, Conversation, Message, title_from


class VersionRefused(Exception):
    """A version that cannot be chosen now; the message says why."""


@dataclass(frozen=True)
class Versions:
    """Where a message stands among its versions (1-based), and the ones before and after it."""

    index: int
    count: int
    previous_id: int | None
    next_id: int | None
    # What the platform, which keeps its own memory of the conversation, saw of the other versions.
    note: str = ""

    def as_dict(self) -> dict[str, int | str | None]:
        return asdict(self)


def memory_note(role: str, index: int, count: int) -> str:
    """The platform's memory in plain words: it saw every version, whichever is shown."""
    if role == Message.Role.ASSISTANT:
        return _("The agent also remembers its other versions of this reply.")
    if 1 < index < count:
        return _("The agent also saw your earlier and later versions.")
    if index < count:
        return (
            _("The agent also saw your later version.")
            if count - index == 1
            else _("The agent also saw your later versions.")
        )
    return (
        _("The agent also saw your earlier version.")
        if index == 2
        else _("The agent also saw your earlier versions.")
    )


def version_ids(message: Message) -> Q:
    """The message's versions, itself included."""
    first = message.first_version_id or message.pk
    return Q(pk=first) | Q(first_version_id=first)


def last_in_history_id(conversation: Conversation) -> int | None:
    return conversation.chosen_path().values_list("pk", flat=True).last()


def add_version(old: Message, new: Message) -> Message:
    """Save `new` (unsaved, same conversation and role) as the chosen version in place of `old`.

    `old` and everything after it leave the chosen path; they stay as they are.
    """
    leave_path(old)
    Message.objects.filter(pk=old.pk).update(chosen=False)
    new.parent_id = old.parent_id
    new.first_version_id = old.first_version_id or old.pk
    new.save(force_insert=True)
    return new


def leave_path(message: Message) -> None:
    """Take `message` and every message after it on the chosen path off that path."""
    path = Message.objects.filter(conversation_id=message.conversation_id, in_history=True)
    path.exclude(earlier_than(message)).update(in_history=False)


def join_path(message: Message) -> None:
    """Put `message` on the chosen path, and after it the version each later turn last had chosen."""
    later = Message.objects.filter(
        conversation_id=message.conversation_id, created_at__gte=message.created_at, chosen=True
    ).values_list("pk", "parent_id")
    chosen_child = {parent_id: pk for pk, parent_id in later if parent_id is not None}
    path, node = [message.pk], message.pk
    while node in chosen_child:
        node = chosen_child[node]
        path.append(node)
    Message.objects.filter(pk__in=path).update(in_history=True)


def copy_files(source: Message, target: Message) -> list[Attachment]:
    """The files of `source`, also on `target`: new rows naming the same stored files (no bytes copied)."""
    files = list(source.attachments.all())
    return Attachment.objects.bulk_create(
        Attachment(
            conversation_id=target.conversation_id,
            message=target,
            file=attachment.file.name,
            name=attachment.name,
            content_type=attachment.content_type,
            size=attachment.size,
            sha256=attachment.sha256,
        )
        for attachment in files
    )


def title_follows(conversation: Conversation, old: Message, new: Message) -> bool:
    """Give the conversation the title of `new` in place of `old`, when `old` is its first message and
    the title is still the one made from it (not renamed). Saves nothing; True when it changed."""
    if old.parent_id is not None or old.role != Message.Role.USER:
        return False
    if conversation.title != title_from(old.content) or not new.content.strip():
        return False
    conversation.title = title_from(new.content)
    return True


class Choice(NamedTuple):
    conversation: Conversation
    # The version chosen until now; None when the message was the chosen one already.
    replaced_id: int | None


def choose_version(conversation_id: str, user_id: int, message_id: int) -> Choice:
    """Make message `message_id` the chosen version of its turn; the page then shows the path from it.

    Refused (`VersionRefused`) while a reply runs (it would leave the page), or for a message
    whose versions are not on the chosen path. Returns the conversation (its title may follow)
    and the version it replaced.
    """
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id, owner_id=user_id)
        target = conversation.messages.filter(pk=message_id).first()
        if target is None:
            raise NotFound(_("No such message in this conversation."))
        current = conversation.messages.filter(version_ids(target), chosen=True).first()
        if current is None or not current.in_history:
            raise VersionRefused(_("This version is not part of the conversation shown."))
        if current.pk == target.pk:
            return Choice(conversation, None)
        if conversation.messages.filter(status=Message.Status.STREAMING).exists():
            raise VersionRefused(_("Wait for the reply to finish, or stop it, before switching versions."))
        leave_path(current)
        Message.objects.filter(pk=current.pk).update(chosen=False)
        Message.objects.filter(pk=target.pk).update(chosen=True)
        join_path(target)
        if title_follows(conversation, current, target):
            conversation.save(update_fields=["title"])
    return Choice(conversation, current.pk)


def versions_as_dict(message: Message) -> dict[str, int | str | None] | None:
    """Where `message` stands among its versions, as a frame carries it; None when it has no other."""
    found = versions_of([message]).get(message.pk)
    return found.as_dict() if found else None


def versions_of(messages: list[Message]) -> dict[int, Versions]:
    """The versions of each message that has more than one, by message id (one query)."""
    firsts = {message.first_version_id or message.pk for message in messages}
    if not firsts:
        return {}
    groups: dict[int, list[int]] = defaultdict(list)
    rows = (
        Message.objects.filter(Q(pk__in=firsts) | Q(first_version_id__in=firsts))
        .order_by("created_at", "id")
        .values_list("pk", "first_version_id")
    )
    for pk, first in rows:
        groups[first or pk].append(pk)
    found = {}
    for message in messages:
        ids = groups[message.first_version_id or message.pk]
        if len(ids) > 1 and message.pk in ids:
            i = ids.index(message.pk)
            found[message.pk] = Versions(
                index=i + 1,
                count=len(ids),
                previous_id=ids[i - 1] if i > 0 else None,
                next_id=ids[i + 1] if i + 1 < len(ids) else None,
                note=memory_note(message.role, i + 1, len(ids)),
            )
    return found
