"""The admin for agents speaking open protocols: settings, "Test connection" and "Import agents"."""

import pytest
from django.urls import reverse

from agents.models import Agent, Credential
from tests import ag_ui_server
from tests.fakes import ServedApp

pytestmark = pytest.mark.django_db


@pytest.fixture
def models_credential(served_fakes):
    fake = served_fakes["openai_compatible"]
    fake.app.reset()
    credential = Credential(platform="openai_compatible", name="Model host", base_url=fake.url + "/v1")
    credential.set_api_key("demo-key")
    credential.save()
    return credential


@pytest.fixture(scope="module")
def pydantic_ai_server():
    with ServedApp(ag_ui_server.app) as served:
        yield served


def messages_after(admin_client, url: str, action: str, pk: int) -> list[str]:
    response = admin_client.post(url, {"action": action, "_selected_action": [pk]}, follow=True)
    return [str(m) for m in response.context["messages"]]


def test_test_connection_lists_the_models(admin_client, models_credential):
    said = messages_after(
        admin_client, reverse("admin:agents_credential_changelist"), "test_connection", models_credential.pk
    )
    assert any("2 models are listed (fake-gpt, fake-vision)" in m for m in said), said


def test_import_agents_offers_the_models_and_creates_the_chosen(admin_client, models_credential):
    url = reverse("admin:agents_credential_import", args=[models_credential.pk])
    listing = admin_client.get(url)
    assert b"fake-vision" in listing.content
    admin_client.post(url, {"agent_id": ["fake-vision"]})
    assert list(Agent.objects.values_list("upstream_agent_id", flat=True)) == ["fake-vision"]


def test_the_model_agents_settings_say_how_much_history_goes_along(admin_client, models_credential):
    agent = Agent.objects.create(
        name="M", slug="m", credential=models_credential, upstream_agent_id="fake-gpt"
    )
    page = admin_client.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()
    for name in ("option_system_prompt", "option_images", "option_stream", "option_history_messages"):
        assert f'name="{name}"' in page
    assert "The most earlier messages sent with each turn" in page
    assert "a token counted as four characters" in page

    response = admin_client.post(
        reverse("admin:agents_agent_change", args=[agent.pk]),
        {
            "name": "M",
            "slug": "m",
            "credential": models_credential.pk,
            "upstream_agent_id": "fake-gpt",
            "enabled": "on",
            "options_platform": "openai_compatible",
            "option_history_messages": "twenty",
        },
    )
    assert "history_messages must be a whole number" in response.content.decode()


def test_test_connection_of_an_ag_ui_agent_starts_a_run(admin_client, pydantic_ai_server):
    credential = Credential(platform="ag_ui", name="Our agents", base_url=pydantic_ai_server.url)
    credential.set_api_key("token")
    credential.save()
    agent = Agent.objects.create(
        name="Helper", slug="helper", credential=credential, upstream_agent_id="/agent"
    )
    said = messages_after(admin_client, reverse("admin:agents_agent_changelist"), "test_connection", agent.pk)
    assert any("speaks AG-UI (AG-UI 1.0) and started a run" in m for m in said), said
