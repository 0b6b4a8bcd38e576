"""A conversation's history: pages of it for the page, and the earlier messages a turn carries.

A page is a list of messages oldest first, the newest page first, earlier ones
by cursor. Cursors are message ids for a conversation (and a live link),
positions for a snapshot's frozen copy, whose ids are not shown.
"""

from django.db.models import Q, QuerySet

from agents.providers.base import HistoryBudget, HistoryMessage
from conversations.attachments import turn_file
from conversations.models import Conversation, Message, SharedMessage

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


# An image counts as this many tokens against a history budget (a model's tile estimate, roughly).
IMAGE_TOKENS = 256
CHARS_PER_TOKEN = 4
# Replies whose text goes back to the platform: the ones that ended with something said.
REPLIES_SENT_BACK = (Message.Status.COMPLETE, Message.Status.STOPPED, Message.Status.PAUSED)


def approximate_tokens(message: Message) -> int:
    images = sum(1 for a in message.attachments.all() if a.is_image)
    calls = sum(len(c.get("arguments", "")) + len(c.get("result", "")) for c in message.tool_calls or [])
    return -(-(len(message.content) + calls) // CHARS_PER_TOKEN) + images * IMAGE_TOKENS


def history_message(message: Message) -> HistoryMessage:
    images = tuple(turn_file(a) for a in message.attachments.all() if a.is_image)
    calls = tuple(
        {k: str(call[k]) for k in ("id", "name", "arguments", "result") if call.get(k)}
        for call in message.tool_calls or []
        if isinstance(call, dict) and call.get("id")
    )
    return HistoryMessage(
        role=message.role, text=message.content, id=f"m-{message.pk}", images=images, tool_calls=calls
    )


def turn_history(
    conversation: Conversation, budget: HistoryBudget, *, before: Message, including: Message | None = None
) -> tuple[HistoryMessage, ...]:
    """The messages of `conversation` before `before`, oldest first, that fit `budget`, then `including`.

    The newest messages are kept: at most `budget.messages`, and as many as fit
    in about `budget.tokens` tokens. Replies that failed with nothing said are
    left out, and so are replies at the start, so the history opens with the user.
    `including` (a paused reply that a turn resumes) always goes last, whatever it costs.
    """
    kept: list[Message] = []
    if budget.messages > 0 and budget.tokens > 0:
        earlier = (
            conversation.chosen_path()
            .filter(earlier_than(before))
            .filter(Q(role=Message.Role.USER) | Q(status__in=REPLIES_SENT_BACK))
            .order_by("-created_at", "-id")
            .prefetch_related("attachments")
        )
        tokens = 0
        for message in earlier[: budget.messages]:
            if message.role == Message.Role.ASSISTANT and not message.content and not message.tool_calls:
                continue
            tokens += approximate_tokens(message)
            if tokens > budget.tokens:
                break
            kept.append(message)
        kept.reverse()
        while kept and kept[0].role != Message.Role.USER:
            kept.pop(0)
    if including is not None:
        kept.append(including)
    return tuple(history_message(message) for message in kept)
