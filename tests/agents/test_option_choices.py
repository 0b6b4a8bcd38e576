"""A choice setting in the admin: the value the platform takes, named in the reader's language."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent, Credential

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow_agent(db) -> Agent:
    credential = Credential(platform="workflow_chat", name="Workflows", base_url="https://api.example.com")
    credential.set_api_key("demo-key")
    credential.save()
    return Agent.objects.create(name="Builder", slug="builder", credential=credential, upstream_agent_id="a1")


def shown_choices(page: str, name: str) -> dict[str, str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, name
    return dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1)))


def agent_page(admin_user, agent: Agent, language: str) -> str:
    client = Client(headers={"accept-language": language})
    client.force_login(admin_user)
    return client.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()


def test_a_german_admin_reads_the_choices_in_german_and_the_platforms_values_are_kept(
    admin_user, workflow_agent
):
    german = agent_page(admin_user, workflow_agent, "de")
    assert shown_choices(german, "option_preferredMode") == {
        "": "(Standard der Plattform)",
        "planning": "Planung",
        "building": "Aufbau",
        "repair": "Reparatur",
        "conversation": "Unterhaltung",
    }
    assert shown_choices(german, "option_agentVersion")["both"] == "Beide"
    english = agent_page(admin_user, workflow_agent, "en")
    assert shown_choices(english, "option_templateSearchMode")["lightweight"] == "Lightweight"


def test_a_chosen_value_is_stored_as_the_platform_spells_it(admin_client, workflow_agent):
    response = admin_client.post(
        reverse("admin:agents_agent_change", args=[workflow_agent.pk]),
        {
            "name": "Builder",
            "slug": "builder",
            "credential": workflow_agent.credential_id,
            "upstream_agent_id": "a1",
            "enabled": "on",
            "options_platform": "workflow_chat",
            "option_preferredMode": "repair",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    workflow_agent.refresh_from_db()
    assert workflow_agent.options == {"preferredMode": "repair"}
