"""Error pages in the site's own look, each with a way back."""

import pytest
from django.template.loader import render_to_string
from django.test import Client


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice-1")


def assert_site_page(html: str, heading: str) -> None:
    assert "chatsite" in html and heading in html
    assert 'href="/"' in html and "Back to your chats" in html
    assert "app.css" in html


@pytest.mark.django_db
def test_an_unknown_page_or_revoked_link_is_a_404_in_the_sites_look(client):
    for path in ("/no/such/page/", "/s/unknown-token/"):
        response = client.get(path)
        assert response.status_code == 404
        assert_site_page(response.content.decode(), "Nothing here")


@pytest.mark.django_db
def test_a_refused_page_is_a_403_in_the_sites_look(alice, django_user_model):
    staff = django_user_model.objects.create_user("sam", password="pw-sam-1", is_staff=True)
    client = Client()
    client.force_login(staff)
    response = client.get("/admin/usage/")
    assert response.status_code == 403
    assert_site_page(response.content.decode(), "Not allowed")


@pytest.mark.django_db
def test_a_form_sent_without_its_csrf_token_explains_what_to_do(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/accounts/logout/")
    assert response.status_code == 403
    html = response.content.decode()
    assert_site_page(html, "This page expired")
    assert "reload the page" in html


def test_the_500_page_renders_without_a_request_or_a_database():
    assert_site_page(render_to_string("500.html"), "Something went wrong")
