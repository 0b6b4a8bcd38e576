"""Who may see and use what: a conversation is its owner's, an agent is for those it is open to.

The one place these rules live; the views, the websockets and the turn
transactions all ask here. A refusal is `NotFound` whatever the reason (another
user's, deleted, never existed), so that nobody learns what exists: the views
answer it with a 404 (`NotFoundMiddleware`), the websockets with `NOT_FOUND`.
"""

from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpRequest
from django.utils.deprecation import MiddlewareMixin

from agents.models import Agent, open_to
from conversations.models import Conversation, ShareLink


class NotFound(Exception):
    """The thing asked for does not exist for this user."""


def visible_agents(user) -> QuerySet[Agent]:
    """The agents `user` may chat with: enabled, and open to everyone or to one of the user's groups."""
    return Agent.objects.usable_by(user)


def may_use_agent(user, agent: Agent) -> bool:
    return visible_agents(user).filter(pk=agent.pk).exists()


def owner_may_use_agent() -> Exists:
    """For a query of conversations: `may_use_agent(owner, agent)` as an SQL expression, so that one
    query reads the conversation and the answer. The owner's `is_active` is left to the caller."""
    return Exists(Agent.objects.enabled().filter(open_to(OuterRef("owner_id")), pk=OuterRef("agent_id")))


def owned_conversation(user, conversation_id: str) -> Conversation:
    """The user's own conversation; anyone else's, or a missing one, is `NotFound` alike."""
    conversation = (
        Conversation.objects.select_related("agent").filter(pk=conversation_id, owner_id=user.pk).first()
    )
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def owns_conversation(user_id: int, conversation_id: str) -> bool:
    return Conversation.objects.filter(pk=conversation_id, owner_id=user_id).exists()


def session_alive(session: SessionBase) -> bool:
    """The session that opened a socket was not logged out."""
    return session.session_key is not None and session.exists(session.session_key)


def user_active(user_id: int) -> bool:
    return get_user_model().objects.filter(pk=user_id, is_active=True).exists()


def owner_active(user_id: int, conversation_id: str) -> bool | None:
    """Whether the user, owning the conversation, is active; None when it is not theirs. One query."""
    return (
        Conversation.objects.filter(pk=conversation_id, owner_id=user_id)
        .values_list("owner__is_active", flat=True)
        .first()
    )


def watchable_live_link(user, token: str) -> tuple[int, str] | None:
    """(link id, conversation id) of the live link `token` names, if `user` may watch it."""
    if not (user.is_authenticated and user.is_active):
        return None
    link = ShareLink.objects.by_token(token)
    if link is None or not link.live or link.access != ShareLink.Access.MEMBERS:
        return None
    return link.pk, link.conversation_id


class NotFoundMiddleware(MiddlewareMixin):
    """Answers `NotFound` raised in a view with Django's 404."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, NotFound):
            raise Http404(str(exception)) from exception
