"""Pages of a conversation's history: the newest page first, earlier ones by cursor.

A page is a list of messages oldest first. Cursors are message ids for a
conversation (and a live link), positions for a snapshot's frozen copy, whose
ids are not shown.
"""

from django.db.models import Q, QuerySet

from conversations.models import Message, SharedMessage

Shown = QuerySet[Message] | QuerySet[SharedMessage]
Page = list[Message] | list[SharedMessage]


class NoSuchCursor(Exception):
    """The cursor names no message of what is shown."""


def last_page(shown: Shown, size: int) -> tuple[Page, bool]:
    """The last `size` messages of `shown` (ordered), oldest first, and whether earlier ones exist."""
    newest_first = list(shown.reverse().prefetch_related("attachments")[: size + 1])
    return newest_first[:size][::-1], len(newest_first) > size


def messages_before(shown: Shown, cursor: str) -> Shown:
    """The messages of `shown` before the one `cursor` names."""
    if not cursor.isdigit():
        raise NoSuchCursor(cursor)
    if shown.model is SharedMessage:
        return shown.filter(position__lt=int(cursor))
    anchor = shown.filter(pk=int(cursor)).first()
    if anchor is None:
        raise NoSuchCursor(cursor)
    return shown.filter(earlier_than(anchor))


def page_from(shown: QuerySet[Message], message_id: int) -> tuple[list[Message], bool] | None:
    """Every message of `shown` from `message_id` on, and whether earlier ones exist; None if not there."""
    anchor = shown.filter(pk=message_id).first()
    if anchor is None:
        return None
    earlier = earlier_than(anchor)
    return list(shown.exclude(earlier).prefetch_related("attachments")), shown.filter(earlier).exists()


def earlier_than(message: Message) -> Q:
    """Messages before `message` in the conversation's order (time, then id)."""
    return Q(created_at__lt=message.created_at) | Q(created_at=message.created_at, pk__lt=message.pk)


def page_cursor(message: Message | SharedMessage) -> int:
    """The cursor of the page before the one `message` starts."""
    return message.position if isinstance(message, SharedMessage) else message.pk
