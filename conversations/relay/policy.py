"""Whether a turn may start: the user's limits, a busy conversation, the agent, the approval decisions.

Each check runs inside the turn's transaction (conversations.relay.turns) and
raises `TurnRefused` with a code the browser shows; nothing is saved then.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from agents.providers import Provider, UpstreamError
from conversations.models import Conversation, Message
from conversations.protocol import REPLY_ERRORS, RefusalCode, Refused, ReplyErrorCode

MAX_RESPONSE_CHARS = 10_000


class TurnRefused(Refused):
    """A request to start a reply that cannot be honoured; nothing was saved."""


def decisions_problem(actions: list[dict[str, Any]], decisions: Any) -> str:
    """Why `decisions` do not answer `actions` (one each, in order, as allowed); "" when they do."""
    if not isinstance(decisions, list) or len(decisions) != len(actions):
        return ngettext("Decide on the action.", "Decide on each of the %(count)d actions.", len(actions)) % {
            "count": len(actions)
        }
    for action, decision in zip(actions, decisions, strict=True):
        kind = decision.get("type") if isinstance(decision, dict) else None
        if kind not in action["allowed"]:
            return _("For %(action)s, choose one of: %(choices)s.") % {
                "action": action["name"],
                "choices": ", ".join(action["allowed"]),
            }
        if kind == "respond":
            message = decision.get("message")
            if not isinstance(message, str) or not message.strip() or len(message) > MAX_RESPONSE_CHARS:
                return _("For %(action)s, write a response of at most %(limit)s characters.") % {
                    "action": action["name"],
                    "limit": number_format(MAX_RESPONSE_CHARS, force_grouping=True),
                }
    return ""


def ready_provider(conversation: Conversation) -> Provider:
    """The adapter for the conversation's agent, as `locked_conversation` reads it (with `agent_usable`)."""
    agent = conversation.agent
    if not agent.enabled:
        raise TurnRefused(
            RefusalCode.AGENT_UNAVAILABLE,
            _("The agent “%(agent)s” is switched off. Ask an admin.") % {"agent": agent.name},
        )
    if not (conversation.owner.is_active and conversation.agent_usable):
        raise TurnRefused(
            RefusalCode.AGENT_UNAVAILABLE,
            _("You may no longer use the agent “%(agent)s”.") % {"agent": agent.name},
        )
    try:
        return agent.provider()
    except (UpstreamError, ValueError) as exc:
        raise TurnRefused(RefusalCode.AGENT_UNAVAILABLE, str(exc)) from exc


def mark_abandoned_replies(conversation_id: str) -> None:
    """Replies of the conversation left `streaming` by a process that is gone become `interrupted`."""
    interrupt_abandoned(Message.objects.filter(conversation_id=conversation_id))


def interrupt_abandoned(replies: QuerySet[Message]) -> int:
    """Mark those of `replies` left `streaming` by a process that is gone as `interrupted`; how many.

    `updated_at` records when, so that every process's sweep can tell its sockets.
    """
    now = timezone.now()
    return replies.filter(
        status=Message.Status.STREAMING, updated_at__lt=now - timedelta(seconds=settings.REPLY_ALIVE_SECONDS)
    ).update(
        status=Message.Status.INTERRUPTED,
        # In English whoever's request marks it: each page shows it in its reader's language.
        error=REPLY_ERRORS[ReplyErrorCode.CUT_OFF],
        updated_at=now,
    )


def refuse_over_limits(user_id: int, sends_message: bool) -> None:
    """Refuse a turn over the user's limits, counted over all their conversations in one query."""
    now = timezone.now()
    sent_lately = Q(role=Message.Role.USER, created_at__gte=now - timedelta(seconds=60))
    still_running = Q(
        status=Message.Status.STREAMING,
        updated_at__gte=now - timedelta(seconds=settings.REPLY_ALIVE_SECONDS),
    )
    counts = Message.objects.filter(sent_lately | still_running, conversation__owner_id=user_id).aggregate(
        sent=Count("pk", filter=sent_lately), running=Count("pk", filter=still_running)
    )
    if sends_message and counts["sent"] >= settings.MESSAGES_PER_MINUTE:
        raise TurnRefused(
            RefusalCode.MESSAGE_LIMIT,
            _("You can send at most %(limit)d messages a minute. Wait a moment and try again.")
            % {"limit": settings.MESSAGES_PER_MINUTE},
        )
    running = counts["running"]
    if running >= settings.RUNNING_REPLIES_PER_USER:
        raise TurnRefused(
            RefusalCode.REPLY_LIMIT,
            _(
                "You already have %(running)d replies running (the limit is %(limit)d). "
                "Wait for one to finish or stop it."
            )
            % {"running": running, "limit": settings.RUNNING_REPLIES_PER_USER},
        )


def open_replies(conversation: Conversation) -> list[Message]:
    """The conversation's replies a new message meets: streaming, or paused for a pending decision."""
    return list(
        conversation.messages.filter(
            Q(status=Message.Status.STREAMING) | Q(status=Message.Status.PAUSED, approval__status="pending")
        ).only("pk", "conversation_id", "status", "approval", "updated_at")
    )


def refuse_if_busy(conversation: Conversation, replies: list[Message]) -> None:
    """Refuse a turn while one of `replies` (`open_replies`) is streaming, unless its process is gone."""
    streaming = [reply for reply in replies if reply.status == Message.Status.STREAMING]
    if not streaming:
        return
    cutoff = timezone.now() - timedelta(seconds=settings.REPLY_ALIVE_SECONDS)
    if any(reply.updated_at < cutoff for reply in streaming):
        mark_abandoned_replies(conversation.pk)
    if any(reply.updated_at >= cutoff for reply in streaming):
        raise TurnRefused(
            RefusalCode.BUSY, _("A reply is still running in this conversation. Stop it or wait for it.")
        )
