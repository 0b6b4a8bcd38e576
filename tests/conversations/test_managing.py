"""Managing one's conversations: rename, delete, search, export."""

import json

import pytest
from django.urls import reverse

from conversations.models import Conversation, Message, ShareLink
from tests.conversations.conftest import signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def tides(alice, sketricgen_agent):
    conversation = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title="Tide tables")
    Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content="When is high tide in Brest?"
    )
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content="High tide in Brest is at **noon** <img src=x onerror=alert(1)>.",
        tool_calls=[{"id": "t1", "name": "tide_lookup", "status": "done"}],
    )
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.ERROR,
        error="The platform answered 503.",
    )
    return conversation


@pytest.fixture
def recipes(alice, sketricgen_agent):
    conversation = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title="Soup recipes")
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content="A leek soup, please")
    return conversation


def test_renaming_changes_the_title_everywhere(alice, tides):
    client = signed_in_client(alice)
    response = client.post(
        reverse("rename_conversation", args=[tides.id]),
        {"title": "  Brest   tides "},
        HTTP_ACCEPT="application/json",
    )
    assert response.json() == {"title": "Brest tides"}
    page = client.get(tides.get_absolute_url()).content.decode()
    assert "<title>Brest tides · chatsite</title>" in page
    assert 'title="Brest tides"' in page  # the sidebar link


def test_an_empty_title_is_refused(alice, tides):
    response = signed_in_client(alice).post(
        reverse("rename_conversation", args=[tides.id]), {"title": "   "}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    tides.refresh_from_db()
    assert tides.title == "Tide tables"


def test_deleting_removes_the_conversation_its_messages_and_links(alice, tides):
    ShareLink.objects.create(conversation=tides, created_by=alice)
    client = signed_in_client(alice)
    page = client.get(tides.get_absolute_url()).content.decode()
    assert "Delete this conversation?" in page  # the confirmation
    response = client.post(reverse("delete_conversation", args=[tides.id]), follow=True)
    assert "Deleted “Tide tables”." in response.content.decode()
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()
    assert not ShareLink.objects.exists()
    assert client.get(tides.get_absolute_url()).status_code == 404


def test_deleting_needs_a_post(alice, tides):
    assert signed_in_client(alice).get(reverse("delete_conversation", args=[tides.id])).status_code == 405
    assert Conversation.objects.exists()


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("tide", ["Tide tables"]),
        ("BREST", ["Tide tables"]),
        ("leek", ["Soup recipes"]),
        ("soup", ["Soup recipes"]),
        ("nothing-like-this", []),
    ],
)
def test_search_finds_conversations_by_title_and_message_text(alice, tides, recipes, query, titles):
    response = signed_in_client(alice).get(reverse("search"), {"q": query})
    found = [item.conversation.title for item in response.context["results"]]
    assert found == titles


def test_search_shows_an_excerpt_and_only_the_users_own(alice, bob, tides, sketricgen_agent):
    bobs = Conversation.objects.create(owner=bob, agent=sketricgen_agent, title="Bob's tide notes")
    Message.objects.create(conversation=bobs, role=Message.Role.USER, content="tide tide tide")
    page = signed_in_client(alice).get(reverse("search"), {"q": "Brest"}).content.decode()
    assert "When is high tide in <mark>Brest</mark>?" in page
    assert "Bob&#x27;s tide notes" not in page
    bob_results = signed_in_client(bob).get(reverse("search"), {"q": "tide"}).context["results"]
    assert [item.conversation for item in bob_results] == [bobs]


def test_export_as_markdown(alice, tides):
    response = signed_in_client(alice).get(reverse("export_conversation", args=[tides.id, "md"]))
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="tide-tables.md"'
    text = response.content.decode()
    assert text.startswith("# Tide tables\n")
    assert "## You · " in text
    assert "When is high tide in Brest?" in text
    assert "High tide in Brest is at **noon**" in text
    assert "*(Error: The platform answered 503.)*" in text


def test_export_as_json(alice, tides):
    response = signed_in_client(alice).get(reverse("export_conversation", args=[tides.id, "json"]))
    assert response["Content-Disposition"] == 'attachment; filename="tide-tables.json"'
    document = json.loads(response.content)
    assert document["title"] == "Tide tables"
    assert document["agent"] == "Helper"
    assert [m["role"] for m in document["messages"]] == ["user", "assistant", "assistant"]
    assert document["messages"][1]["tools"] == ["tide_lookup"]
    assert document["messages"][2]["status"] == "error"


def test_an_unknown_export_format_is_a_404(alice, tides):
    client = signed_in_client(alice)
    assert client.get(f"/c/{tides.id}/export.exe").status_code == 404


def test_on_postgresql_search_is_full_text_with_stemming_and_web_syntax(alice, tides, recipes):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("full-text search is the PostgreSQL configuration's")
    client = signed_in_client(alice)

    def titles(query: str) -> list[str]:
        return [
            item.conversation.title for item in client.get(reverse("search"), {"q": query}).context["results"]
        ]

    assert titles("tides") == ["Tide tables"]  # "tide" in the text, by its stem
    assert titles("soups") == ["Soup recipes"]
    assert titles('"high tide" -Brest') == []
    assert titles("leek OR brest") == ["Soup recipes", "Tide tables"]
