"""Feedback on replies: the owner's thumbs up or down and comment, and the admin's CSV of them."""

import csv
import io
from collections.abc import Iterable

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from conversations.models import Conversation, Feedback, Message

COMMENT_LENGTH = Feedback._meta.get_field("comment").max_length
CSV_COLUMNS = ["given_at", "agent", "user", "rating", "comment", "conversation", "reply"]


class FeedbackRefused(Exception):
    """Feedback that cannot be saved as sent; the message says why."""


def give_feedback(conversation: Conversation, message_id: int, rating: str, comment: str) -> Feedback:
    """Save (or change) the owner's feedback on one finished reply of `conversation`.

    The caller checked that `conversation` is the user's own; a message of
    another conversation is a 404 alike (`Message.DoesNotExist`).
    """
    message = conversation.messages.get(pk=message_id, role=Message.Role.ASSISTANT)
    if rating not in Feedback.Rating.values:
        raise FeedbackRefused(_("Choose thumbs up or thumbs down."))
    if not message.is_finished:
        raise FeedbackRefused(_("Wait for the reply to finish before rating it."))
    comment = comment.strip()
    if len(comment) > COMMENT_LENGTH:
        raise FeedbackRefused(_("A comment holds at most %(limit)d characters.") % {"limit": COMMENT_LENGTH})
    feedback, _created = Feedback.objects.update_or_create(
        message=message,
        defaults={
            "agent_id": conversation.agent_id,
            "user_id": conversation.owner_id,
            "rating": rating,
            "comment": comment,
        },
    )
    return feedback


def feedback_counts() -> dict[str, Count]:
    """Annotations for an Agent queryset: its replies rated up and down."""
    return {
        "feedback_up": Count("feedback", filter=Q(feedback__rating=Feedback.Rating.UP)),
        "feedback_down": Count("feedback", filter=Q(feedback__rating=Feedback.Rating.DOWN)),
    }


def feedback_csv(rows: Iterable[Feedback]) -> str:
    """One line per feedback; the reply is its text, the conversation its title."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for feedback in rows:
        writer.writerow(
            [
                feedback.updated_at.isoformat(),
                *map(
                    inert_in_spreadsheets,
                    [
                        feedback.agent.name,
                        feedback.user.get_username(),
                        feedback.rating,
                        feedback.comment,
                        str(feedback.message.conversation),
                        feedback.message.content,
                    ],
                ),
            ]
        )
    return out.getvalue()


def inert_in_spreadsheets(value: str) -> str:
    """A cell a spreadsheet shows as text: comments and replies are user and agent input, never formulas."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
