"""Credentials for agent servers that need no authentication (AG-UI, A2A, OpenAI-compatible): no key."""

import pytest
from django.urls import reverse

from agents.models import Credential
from agents.providers.base import Connection
from agents.providers.openai_compatible import OpenAICompatibleProvider

pytestmark = pytest.mark.django_db


def add_credential(admin_client, platform: str, base_url: str, api_key: str = ""):
    return admin_client.post(
        reverse("admin:agents_credential_add"),
        {
            "name": "Our agents",
            "platform": platform,
            "base_url": base_url,
            "api_key": api_key,
            "options_platform": platform,
        },
    )


def run_test_connection(admin_client, credential: Credential) -> list[str]:
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "test_connection", "_selected_action": [credential.pk]},
        follow=True,
    )
    return [str(m) for m in response.context["messages"]]


def test_an_ag_ui_credential_without_a_key_is_saved_and_its_calls_carry_no_authorization(
    admin_client, served_fakes
):
    fake = served_fakes["ag_ui"]
    fake.app.reset()
    response = add_credential(admin_client, "ag_ui", fake.url + "/agent")
    assert response.status_code == 302, response.content.decode()
    credential = Credential.objects.get()
    assert (credential.api_key, credential.masked_key) == ("", "")

    said = run_test_connection(admin_client, credential)
    assert fake.app.requests, said
    assert all("authorization" not in request["headers"] for request in fake.app.requests)


def test_an_a2a_credential_without_a_key_reaches_an_agent_that_needs_none(admin_client, served_fakes):
    fake = served_fakes["a2a"]
    fake.app.reset()
    fake.app.requests.clear()
    assert add_credential(admin_client, "a2a", fake.url).status_code == 302
    said = run_test_connection(admin_client, Credential.objects.get())
    assert fake.app.requests, said
    assert all("authorization" not in request["headers"] for request in fake.app.requests), said


def test_an_openai_compatible_model_host_without_a_key_gets_no_authorization_header():
    keyless = OpenAICompatibleProvider(Connection(base_url="http://127.0.0.1:11434/v1", api_key=""))
    with_key = OpenAICompatibleProvider(Connection(base_url="http://127.0.0.1:11434/v1", api_key="k-1"))
    assert "Authorization" not in keyless.headers()
    assert with_key.headers()["Authorization"] == "Bearer k-1"


def test_the_key_field_says_it_may_stay_empty_only_where_the_platform_may_need_none(admin_client):
    page = admin_client.get(reverse("admin:agents_credential_add") + "?platform=ag_ui").content.decode()
    assert "Leave empty when the agent server needs no key." in page
    page = admin_client.get(reverse("admin:agents_credential_add") + "?platform=sketricgen").content.decode()
    assert "Leave empty when the agent server needs no key." not in page


def test_platforms_that_need_a_key_still_refuse_a_credential_without_one(admin_client):
    response = add_credential(admin_client, "workflow_chat", "https://api.example.com")
    assert response.status_code == 200
    assert not Credential.objects.exists()


@pytest.fixture
def ag_ui_credential_with_a_key(db) -> Credential:
    credential = Credential(platform="ag_ui", name="Our agents", base_url="https://agents.example.com")
    credential.set_api_key("key-entered-earlier")
    credential.save()
    return credential


def change_credential(admin_client, credential: Credential, **fields):
    form = {
        "name": credential.name,
        "platform": credential.platform,
        "base_url": credential.base_url,
        "api_key": "",
        "options_platform": credential.platform,
        **fields,
    }
    return admin_client.post(reverse("admin:agents_credential_change", args=[credential.pk]), form)


def test_a_stored_key_of_an_ag_ui_credential_can_be_removed(admin_client, ag_ui_credential_with_a_key):
    credential = ag_ui_credential_with_a_key
    page = admin_client.get(reverse("admin:agents_credential_change", args=[credential.pk])).content.decode()
    assert 'name="remove_api_key"' in page

    assert change_credential(admin_client, credential).status_code == 302
    credential.refresh_from_db()
    assert credential.api_key == "key-entered-earlier"

    assert change_credential(admin_client, credential, remove_api_key="on").status_code == 302
    credential.refresh_from_db()
    assert (credential.api_key, credential.masked_key) == ("", "")
    page = admin_client.get(reverse("admin:agents_credential_change", args=[credential.pk])).content.decode()
    assert 'name="remove_api_key"' not in page


def test_a_stored_key_still_never_goes_to_a_new_address_unless_it_is_removed(
    admin_client, ag_ui_credential_with_a_key
):
    credential = ag_ui_credential_with_a_key
    moved = "https://elsewhere.example.com"
    response = change_credential(admin_client, credential, base_url=moved)
    assert "enter the API key again" in response.content.decode()

    assert change_credential(admin_client, credential, base_url=moved, remove_api_key="on").status_code == 302
    credential.refresh_from_db()
    assert (credential.base_url, credential.api_key) == (moved, "")
    # With no key stored, the address may change freely.
    assert change_credential(admin_client, credential, base_url=moved + "/v2").status_code == 302


def test_removing_the_key_is_refused_for_platforms_that_need_one(admin_client, sketricgen_credential):
    credential = sketricgen_credential
    page = admin_client.get(reverse("admin:agents_credential_change", args=[credential.pk])).content.decode()
    assert 'name="remove_api_key"' not in page
    change_credential(
        admin_client,
        credential,
        remove_api_key="on",
        option_admin_base_url=credential.options["admin_base_url"],
    )
    credential.refresh_from_db()
    assert credential.api_key == "demo-key"
