"""An A2A agent in the admin: "Test connection" reads its Agent Card, "Import agents" lists the agent
and its skills; against the official a2a-sdk server (agents.fakes.a2a)."""

import pytest
from django.urls import reverse

from agents.models import Agent, Credential
from agents.providers import a2a

pytestmark = pytest.mark.django_db


@pytest.fixture
def a2a_credential(served_fakes):
    server = served_fakes["a2a"]
    server.app.reset()
    a2a._cards.clear()
    credential = Credential(platform="a2a", name="Forecasts", base_url=server.url)
    credential.set_api_key("demo-key")
    credential.save()
    yield credential
    server.app.reset()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_test_connection_says_what_the_agent_card_says(admin_client, a2a_credential):
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "test_connection", "_selected_action": [a2a_credential.pk]},
        follow=True,
    )

    [said] = messages_of(response)
    assert said.startswith("Forecasts: Read the Agent Card of “Forecast demo” (version 1.0.0, A2A 1.0")
    assert "skills: Weather forecast, Forecast report" in said


def test_import_agents_offers_the_agent_and_its_skills_and_creates_the_chosen(admin_client, a2a_credential):
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "import_agents", "_selected_action": [a2a_credential.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert page.count('name="agent_id"') == 3
    assert "Forecast demo: Weather forecast" in page and "Forecast demo: Forecast report" in page

    url = reverse("admin:agents_credential_import", args=[a2a_credential.pk])
    admin_client.post(url, {"agent_id": ["agent", "report"]})

    imported = {agent.upstream_agent_id: agent.name for agent in Agent.objects.all()}
    assert imported == {"agent": "Forecast demo", "report": "Forecast demo: Forecast report"}


def test_the_credential_form_offers_the_key_header_setting(admin_client, a2a_credential):
    response = admin_client.get(reverse("admin:agents_credential_change", args=[a2a_credential.pk]))

    form = response.context["adminform"].form
    assert {name for name in form.fields if name.startswith("option_")} == {"option_key_header"}
