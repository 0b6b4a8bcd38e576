"""The access rules in one place: owner, teammate and outsider, as the views and websockets see them."""

import pytest

from conversations import access
from conversations.models import Conversation
from tests.conversations.conftest import signed_in_client

pytestmark = pytest.mark.django_db


def test_only_the_owner_gets_a_conversation_and_everyone_else_not_found(alice, bob, conversation):
    assert access.owned_conversation(alice, conversation.id) == conversation
    assert access.owns_conversation(alice.pk, conversation.id)
    with pytest.raises(access.NotFound):
        access.owned_conversation(bob, conversation.id)
    with pytest.raises(access.NotFound):
        access.owned_conversation(alice, "no-such-conversation")
    assert not access.owns_conversation(bob.pk, conversation.id)


def test_an_agent_limited_to_a_group_is_for_its_members_only(alice, carol, team_agent, sketricgen_agent):
    assert access.may_use_agent(alice, team_agent)
    assert not access.may_use_agent(carol, team_agent)
    assert list(access.visible_agents(carol)) == [sketricgen_agent]


def test_not_found_in_a_view_is_a_404_page_and_changes_nothing(bob, conversation):
    response = signed_in_client(bob).post(f"/c/{conversation.id}/rename/", {"title": "Mine now"})
    assert response.status_code == 404
    assert Conversation.objects.get(pk=conversation.pk).title == conversation.title
