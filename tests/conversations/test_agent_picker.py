"""Picking an agent: the top bar picker on every page, a filter for long lists, the admin description only."""

import pytest
from django.urls import reverse

from agents.models import Agent
from conversations.models import Conversation
from tests.conversations.conftest import signed_in_client

pytestmark = pytest.mark.django_db


def picker(page: str) -> str:
    return page.split('id="agent-picker"', 1)[1].split("</details>", 1)[0]


def test_the_top_bar_offers_every_agent_the_user_may_use_on_every_page(
    alice, carol, sketricgen_agent, team_agent
):
    sketricgen_agent.description = "Answers questions about tides."
    sketricgen_agent.save()
    conversation = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title="Tides")
    client = signed_in_client(alice)
    for url in (reverse("chat"), conversation.get_absolute_url(), reverse("search") + "?q=x"):
        shown = picker(client.get(url).content.decode())
        assert f'href="{reverse("new_conversation", args=["team-helper"])}"' in shown
        assert "Answers questions about tides." in shown
        assert "agent-filter-input" not in shown  # two agents: nothing to filter
    outsider = picker(signed_in_client(carol).get(reverse("chat")).content.decode())
    assert "Helper" in outsider and "Team Helper" not in outsider


def test_more_than_eight_agents_can_be_filtered_by_typing(alice, sketricgen_credential):
    for n in range(9):
        Agent.objects.create(
            name=f"Agent {n}", slug=f"agent-{n}", credential=sketricgen_credential, upstream_agent_id="a"
        )
    page = signed_in_client(alice).get(reverse("chat")).content.decode()
    assert 'data-agent-filter="agent-picker-list"' in picker(page)
    assert 'data-agent-filter="agent-grid"' in page


def test_imported_agents_show_no_platform_metadata_to_members(admin_client, alice, sketricgen_credential):
    url = reverse("admin:agents_credential_import", args=[sketricgen_credential.pk])
    listing = admin_client.get(url).content.decode()
    [first_id] = [piece.split('"', 1)[0] for piece in listing.split('name="agent_id" value="')[1:2]]
    admin_client.post(url, {"agent_id": [first_id]})
    imported = Agent.objects.get(upstream_agent_id=first_id)
    assert imported.description == ""
    home = signed_in_client(alice).get(reverse("chat")).content.decode()
    assert imported.name in home and "published" not in home
