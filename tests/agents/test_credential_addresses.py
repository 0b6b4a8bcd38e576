"""A credential's key is only sent to the addresses it was entered with: base URL and every URL setting."""

import pytest
from django.urls import reverse

from agents.models import Credential, Platform
from tests.recording_server import RecordingServer

pytestmark = pytest.mark.django_db

STORED_KEY = "demo-key"
NEW_KEY = "sk-new-key-for-the-new-host-5678"


def change_url(credential: Credential) -> str:
    return reverse("admin:agents_credential_change", args=[credential.pk])


def form_data(credential: Credential, api_key: str = "", **options: str) -> dict:
    """The credential's change form as the admin sees it, with `options` (setting name -> value) changed."""
    data = {
        "name": credential.name,
        "platform": credential.platform,
        "base_url": credential.base_url,
        "api_key": api_key,
        "options_platform": credential.platform,
    }
    for name, value in {**credential.options, **options}.items():
        data[f"option_{name}"] = value
    return data


def connection_test_messages(admin_client, credential: Credential) -> list[str]:
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "test_connection", "_selected_action": [credential.pk]},
        follow=True,
    )
    return [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize("option", ["admin_base_url", "upload_init_url", "upload_complete_url"])
def test_changing_any_sketricgen_url_setting_requires_the_key_again(
    admin_client, sketricgen_credential, option
):
    before = dict(sketricgen_credential.options)
    response = admin_client.post(
        change_url(sketricgen_credential),
        form_data(sketricgen_credential, **{option: "https://collector.example/steal"}),
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "enter the API key again" in form.errors[f"option_{option}"][0]
    assert "Enter the API key again" in form.errors["api_key"][0]
    sketricgen_credential.refresh_from_db()
    assert sketricgen_credential.options == before


def test_changing_the_agentweave_upload_url_requires_the_key_again(admin_client, served_fakes):
    url = served_fakes["agentweave"].url
    credential = Credential(platform=Platform.AGENTWEAVE, name="Weave", base_url=url)
    credential.options = {"upload_url": f"{url}/upload_file"}
    credential.set_api_key(STORED_KEY)
    credential.save()
    response = admin_client.post(
        change_url(credential), form_data(credential, upload_url="https://collector.example/upload_file")
    )
    assert response.status_code == 200
    assert "enter the API key again" in response.context["adminform"].form.errors["option_upload_url"][0]
    credential.refresh_from_db()
    assert credential.options == {"upload_url": f"{url}/upload_file"}


def test_clearing_a_url_setting_back_to_the_default_host_requires_the_key_too(
    admin_client, sketricgen_credential
):
    data = form_data(sketricgen_credential)
    data["option_admin_base_url"] = ""
    response = admin_client.post(change_url(sketricgen_credential), data)
    assert response.status_code == 200
    assert "option_admin_base_url" in response.context["adminform"].form.errors


def test_other_changes_keep_the_stored_key(admin_client, sketricgen_credential):
    data = form_data(sketricgen_credential)
    data["name"] = "Renamed"
    response = admin_client.post(change_url(sketricgen_credential), data)
    assert response.status_code == 302
    sketricgen_credential.refresh_from_db()
    assert (sketricgen_credential.name, sketricgen_credential.api_key) == ("Renamed", STORED_KEY)


def import_agents(admin_client, credential: Credential) -> None:
    """Open "Import agents", which lists the account's agents through the Admin API."""
    admin_client.get(reverse("admin:agents_credential_import", args=[credential.pk]), follow=True)


def test_the_key_never_reaches_a_host_it_was_not_entered_for(admin_client, sketricgen_credential, sketricgen):
    with RecordingServer() as other_host:
        other = f"http://127.0.0.1:{other_host.port}/admin/v1"

        refused = admin_client.post(
            change_url(sketricgen_credential), form_data(sketricgen_credential, admin_base_url=other)
        )
        assert refused.status_code == 200
        import_agents(admin_client, sketricgen_credential)
        assert other_host.received == []

        sketricgen.app.requests.clear()
        changed = admin_client.post(
            change_url(sketricgen_credential),
            form_data(sketricgen_credential, api_key=NEW_KEY, admin_base_url=other),
        )
        assert changed.status_code == 302
        import_agents(admin_client, sketricgen_credential)

    assert len(other_host.received) == 1
    request = other_host.received[0]
    assert request.startswith(b"GET /admin/v1/")
    assert f"Bearer {NEW_KEY}".encode() in request
    assert STORED_KEY.encode() not in request
    assert sketricgen.app.requests == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://platform.example/v1", "Enter an https:// address"),
        ("http://platform.example/v1", "plain http"),
        ("https://10.0.0.5/v1", "10.0.0.5 is a private address"),
        ("https://169.254.169.254/latest", "169.254.169.254 is a cloud metadata address"),
        ("https://[fd00:ec2::254]/latest", "fd00:ec2::254 is a cloud metadata address"),
        ("https://127.0.0.1:8443/v1", "127.0.0.1 is a loopback address"),
        ("https://localhost/v1", "localhost is a loopback address"),
    ],
)
def test_credential_urls_must_be_https_to_a_public_host(admin_client, settings, url, problem):
    settings.UPSTREAM_ALLOW_LOOPBACK = False
    response = admin_client.post(
        reverse("admin:agents_credential_add"),
        {
            "name": "New",
            "platform": "sketricgen",
            "base_url": url,
            "api_key": NEW_KEY,
            "options_platform": "sketricgen",
            "option_upload_init_url": url,
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert problem in errors["base_url"][0]
    assert problem in errors["option_upload_init_url"][0]
    assert not Credential.objects.exists()


def test_an_internal_host_named_in_the_settings_is_accepted(admin_client, settings):
    settings.UPSTREAM_ALLOW_LOOPBACK = False
    settings.UPSTREAM_ALLOWED_HOSTS = ["llm.internal"]
    response = admin_client.post(
        reverse("admin:agents_credential_add"),
        {
            "name": "Internal",
            "platform": "slug_chat",
            "base_url": "http://llm.internal:8080",
            "api_key": NEW_KEY,
        },
    )
    assert response.status_code == 302
    assert Credential.objects.get().base_url == "http://llm.internal:8080"
