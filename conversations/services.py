"""What a user may see and start, shared by the views and the websocket."""

from django.db.models import QuerySet
from django.http import Http404

from agents.models import Agent
from conversations.models import Conversation, Message
from conversations.rendering import render_markdown


def visible_agents(user) -> QuerySet[Agent]:
    """The agents `user` may chat with."""
    return Agent.objects.enabled()


def conversations_for(user) -> QuerySet[Conversation]:
    """The user's conversations for the sidebar, newest first; ones never sent a message have no title."""
    return (
        Conversation.objects.filter(owner=user)
        .exclude(title="")
        .select_related("agent")
        .order_by("-updated_at")
    )


def get_conversation_for(user, conversation_id: str) -> Conversation:
    """The user's own conversation; anyone else's, or a missing one, is a 404 alike."""
    conversation = (
        Conversation.objects.select_related("agent").filter(pk=conversation_id, owner_id=user.pk).first()
    )
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def create_conversation(user, agent: Agent) -> Conversation:
    """An empty conversation with `agent`; it shows in the sidebar once its first message is saved."""
    if not visible_agents(user).filter(pk=agent.pk).exists():
        raise Http404("No such agent.")
    return Conversation.objects.create(owner=user, agent=agent)


def message_html(message: Message) -> str:
    return render_markdown(message.content)
