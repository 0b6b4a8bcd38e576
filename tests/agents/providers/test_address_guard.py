"""The address guard: no upstream connection to an internal address, checked after DNS at connect time."""

import ipaddress

import pytest
from django.urls import reverse

from agents.models import Credential, Platform
from agents.providers.addresses import address_refusal, url_problem
from tests.recording_server import RecordingServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def loopback_refused(settings):
    """The production default: the fake platforms' loopback address is internal like any other."""
    settings.UPSTREAM_ALLOW_LOOPBACK = False
    settings.UPSTREAM_ALLOWED_HOSTS = []


def credential_at(url: str) -> Credential:
    credential = Credential(platform=Platform.SKETRICGEN, name="Pointed elsewhere", base_url=url)
    credential.options = {"admin_base_url": f"{url}/admin/v1"}
    credential.set_api_key("sk-guarded-key-0001")
    credential.save()
    return credential


def connection_test_messages(admin_client, credential: Credential) -> list[str]:
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "test_connection", "_selected_action": [credential.pk]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def said(fragment: str, messages: list[str]) -> bool:
    assert any(fragment in m for m in messages), messages
    return True


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.9", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("fe80::1", "a link-local address"),
        ("169.254.1.1", "a link-local address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("64:ff9b::a00:1", "a private address"),
        ("2002:a00:1::1", "a private address"),
        ("224.0.0.1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104
        ("100.64.0.1", "a reserved address"),
        ("240.0.0.1", "a reserved address"),
    ],
)
def test_internal_addresses_are_refused(loopback_refused, address, kind):
    assert address_refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(loopback_refused, address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_a_named_internal_host_is_allowed(settings, loopback_refused):
    settings.UPSTREAM_ALLOWED_HOSTS = ["10.0.0.5", "llm.internal"]
    assert address_refusal(ipaddress.ip_address("10.0.0.5")) is None
    assert address_refusal(ipaddress.ip_address("10.0.0.6")) == "a private address"
    assert url_problem("https://10.0.0.5/v1") is None
    assert url_problem("http://llm.internal:8080") is None


def test_a_loopback_url_is_refused_at_connect_time_and_the_server_receives_nothing(
    admin_client, loopback_refused
):
    with RecordingServer() as internal:
        credential = credential_at(f"https://127.0.0.1:{internal.port}")
        messages = connection_test_messages(admin_client, credential)
    assert said("does not connect to 127.0.0.1: it is a loopback address", messages)
    assert internal.received == []


def test_a_name_that_resolves_to_loopback_is_refused_after_dns(admin_client, loopback_refused):
    with RecordingServer() as internal:
        credential = credential_at(f"https://localhost:{internal.port}")
        messages = connection_test_messages(admin_client, credential)
    assert said("does not connect to localhost (127.0.0.1): it is a loopback address", messages)
    assert not any("internal-only" in m for m in messages)
    assert internal.received == []


def test_an_ipv4_mapped_loopback_address_is_refused(admin_client, loopback_refused):
    with RecordingServer() as internal:
        credential = credential_at(f"https://[::ffff:127.0.0.1]:{internal.port}")
        messages = connection_test_messages(admin_client, credential)
    assert said("it is a loopback address", messages)
    assert internal.received == []


def test_the_metadata_address_is_refused(admin_client, loopback_refused):
    credential = credential_at("https://169.254.169.254")
    messages = connection_test_messages(admin_client, credential)
    assert said("does not connect to 169.254.169.254: it is a cloud metadata address", messages)


def test_plain_http_is_refused_for_a_host_that_is_not_local(admin_client, loopback_refused):
    credential = credential_at("http://platform.example")
    messages = connection_test_messages(admin_client, credential)
    assert said("plain http", messages)


def test_a_host_named_in_the_setting_is_reached(admin_client, settings, loopback_refused):
    settings.UPSTREAM_ALLOWED_HOSTS = ["localhost"]
    with RecordingServer() as internal:
        credential = credential_at(f"http://localhost:{internal.port}")
        connection_test_messages(admin_client, credential)
    assert len(internal.received) == 1
    assert internal.received[0].startswith(b"POST /api/v1/run-workflow ")
