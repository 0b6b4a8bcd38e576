"""One registry names every platform: its adapter, fake and demo agent; a new one needs no migration."""

import dataclasses

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from agents import platforms
from agents.fakes import FAKES
from agents.models import Credential
from agents.providers import Provider, provider_class


def test_every_registered_platform_has_an_adapter_a_fake_and_a_demo_agent():
    assert set(FAKES) == set(platforms.PLATFORMS)
    for entry in platforms.ENTRIES:
        assert issubclass(provider_class(entry.id), Provider)
        assert entry.label and entry.demo.slug
    assert len({entry.demo.slug for entry in platforms.ENTRIES}) == len(platforms.ENTRIES)


def test_the_credential_form_offers_the_registered_platforms():
    assert Credential._meta.get_field("platform").choices == platforms.platform_choices()


@pytest.mark.django_db
def test_a_platform_added_to_the_registry_needs_no_migration_and_unknown_ones_are_refused(monkeypatch):
    fifth = dataclasses.replace(platforms.ENTRIES[0], id="fifth", label="Fifth platform")
    monkeypatch.setattr(platforms, "ENTRIES", [*platforms.ENTRIES, fifth])
    monkeypatch.setitem(platforms.PLATFORMS, "fifth", fifth)
    call_command("makemigrations", "agents", "--check", "--dry-run", verbosity=0)

    credential = Credential(name="n", platform="fifth", base_url="https://platform.example")
    credential.set_api_key("key")
    credential.full_clean()
    credential.platform = "nowhere"
    with pytest.raises(ValidationError) as refused:
        credential.full_clean()
    assert "platform" in refused.value.message_dict
