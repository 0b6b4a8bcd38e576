"""Admin pages that call a platform or handle a key: clear messages for every failure, no key on any page."""

import httpcore
import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from agents.models import Agent, Credential, Platform
from tests.fakes import ServedApp

pytestmark = pytest.mark.django_db

SECRET = "sk-live-do-not-show-0042"


def broken_gzip_app():
    """A platform whose answers claim to be gzip-compressed but are not."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"internal": "not gzip at all"}'})

    return app


@pytest.fixture
def broken_platform():
    with ServedApp(broken_gzip_app()) as served:
        credential = Credential(platform=Platform.SKETRICGEN, name="Broken", base_url=served.url)
        credential.options = {"admin_base_url": f"{served.url}/admin/v1"}
        credential.set_api_key(SECRET)
        credential.save()
        yield credential


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_test_connection_reports_an_answer_that_does_not_decode(admin_client, broken_platform):
    admin_client.raise_request_exception = False
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "test_connection", "_selected_action": [broken_platform.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Broken: SketricGen sent an answer that could not be decoded." in messages_of(response)
    assert "not gzip at all" not in response.content.decode()


def test_import_agents_reports_an_answer_that_does_not_decode(admin_client, broken_platform):
    admin_client.raise_request_exception = False
    response = admin_client.get(
        reverse("admin:agents_credential_import", args=[broken_platform.pk]), follow=True
    )
    assert response.status_code == 200
    assert "Broken: SketricGen sent an answer that could not be decoded." in messages_of(response)


def test_a_stored_key_that_cannot_be_decrypted_is_reported(admin_client, sketricgen_credential, settings):
    settings.CREDENTIAL_KEYS = ["a" * 43 + "="]
    admin_client.raise_request_exception = False
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "test_connection", "_selected_action": [sketricgen_credential.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert any("encrypted with a key the site no longer has" in m for m in messages_of(response))


@pytest.fixture
def viewer(django_user_model):
    """Staff who may only view credentials and agents."""
    user = django_user_model.objects.create_user("viewer", password="unused", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_credential", "view_agent"]))
    client = Client()
    client.force_login(user)
    return client


def test_a_view_only_staff_user_sees_the_credential_page_without_its_key(viewer, sketricgen_credential):
    response = viewer.get(reverse("admin:agents_credential_change", args=[sketricgen_credential.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "…-key" in page  # the last four characters of "demo-key"
    assert "demo-key" not in page
    assert sketricgen_credential.options["admin_base_url"] in page
    assert 'name="api_key"' not in page


def test_a_view_only_staff_user_sees_the_agent_page(viewer, sketricgen_credential):
    agent = Agent.objects.create(
        name="Helper", slug="helper", credential=sketricgen_credential, upstream_agent_id="agent-demo"
    )
    response = viewer.get(reverse("admin:agents_agent_change", args=[agent.pk]))
    assert response.status_code == 200
    assert "agent-demo" in response.content.decode()


def test_the_debug_page_of_a_failure_deep_in_the_http_client_shows_no_key(
    admin_client, settings, monkeypatch
):
    settings.DEBUG = True
    credential = Credential(platform=Platform.SKETRICGEN, name="Team", base_url="https://platform.example")
    credential.set_api_key(SECRET)
    credential.save()

    async def fail(self, request):
        raise RuntimeError("an unexpected failure deep in the HTTP client")

    monkeypatch.setattr(httpcore.AsyncConnectionPool, "handle_async_request", fail)
    admin_client.raise_request_exception = False
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "test_connection", "_selected_action": [credential.pk]},
    )
    page = response.content.decode()
    assert response.status_code == 500
    assert "an unexpected failure deep in the HTTP client" in page
    assert SECRET not in page


def test_the_debug_page_of_a_failed_save_shows_no_submitted_key(admin_client, settings, monkeypatch):
    settings.DEBUG = True

    def fail(self, *args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Credential, "save", fail)
    admin_client.raise_request_exception = False
    response = admin_client.post(
        reverse("admin:agents_credential_add"),
        {
            "name": "Team",
            "platform": "sketricgen",
            "base_url": "https://chat-v2.sketricgen.ai",
            "api_key": SECRET,
        },
    )
    page = response.content.decode()
    assert response.status_code == 500
    assert "the database went away" in page
    assert SECRET not in page
