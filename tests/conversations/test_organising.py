"""Organising conversations: pin, archive (and restore), delete from the sidebar, and search as one types."""

import pytest
from django.urls import reverse

from conversations.models import Conversation, Message
from conversations.search import plain_text, query_words, snippet, word_pattern
from tests.conversations.conftest import signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def chats(alice, sketricgen_agent):
    """Three titled conversations, newest last: Tides (with Markdown), Soup, Otters."""
    made = {}
    for title in ("Tide tables", "Soup recipes", "Otter facts"):
        made[title] = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title=title)
    Message.objects.create(
        conversation=made["Tide tables"],
        role=Message.Role.ASSISTANT,
        content="High tide in **Brest** is at `noon`; see [the tables](https://example.com/tides).",
    )
    return made


def sidebar_titles(client, group: str) -> list[str]:
    html = client.get(reverse("sidebar")).content.decode()
    section = html.split(f'data-group="{group}"', 1)
    if len(section) < 2:
        return []
    block = section[1].split("</section>", 1)[0]
    return [piece.split("</span>", 1)[0] for piece in block.split('class="conv-link-title">')[1:]]


def test_a_pinned_conversation_heads_the_sidebar_until_unpinned(alice, chats):
    client = signed_in_client(alice)
    tides = chats["Tide tables"]
    assert client.post(reverse("pin_conversation", args=[tides.id]), {"pinned": "1"}).json() == {
        "pinned": True
    }
    assert sidebar_titles(client, "pinned") == ["Tide tables"]
    assert sidebar_titles(client, "today") == ["Otter facts", "Soup recipes"]
    page = client.get(reverse("chat")).content.decode()
    assert page.index(">Pinned</h2>") < page.index(">Today</h2>")

    client.post(reverse("pin_conversation", args=[tides.id]), {"pinned": "0"})
    assert sidebar_titles(client, "pinned") == []
    assert sidebar_titles(client, "today") == ["Otter facts", "Soup recipes", "Tide tables"]


def test_each_sidebar_item_shows_its_agents_avatar_and_a_menu(alice, chats):
    html = signed_in_client(alice).get(reverse("sidebar"), {"current": chats["Soup recipes"].id}).content
    html = html.decode()
    assert html.count('class="avatar avatar-xs avatar-') == 3 and html.count('data-initial="H"') == 3
    assert 'aria-label="Options for Soup recipes"' in html
    soup = chats["Soup recipes"].id
    assert f'data-conversation-id="{soup}" title="Soup recipes" aria-current="page"' in html


def test_archiving_hides_a_conversation_search_finds_it_and_restoring_brings_it_back(alice, chats):
    client = signed_in_client(alice)
    tides = chats["Tide tables"]
    client.post(reverse("pin_conversation", args=[tides.id]), {"pinned": "1"})
    answer = client.post(
        reverse("archive_conversation", args=[tides.id]), {"archived": "1"}, HTTP_ACCEPT="application/json"
    )
    assert answer.json() == {"archived": True}
    assert "Tide tables" not in client.get(reverse("sidebar")).content.decode()
    assert sidebar_titles(client, "pinned") == []  # archiving unpins

    archived_page = client.get(reverse("archived_conversations")).content.decode()
    assert "Tide tables" in archived_page and 'aria-label="Restore Tide tables"' in archived_page
    found = client.get(reverse("search"), {"q": "brest"}, HTTP_ACCEPT="application/json").json()
    assert [(r["id"], r["archived"]) for r in found["results"]] == [(tides.id, True)]

    restored = client.post(reverse("archive_conversation", args=[tides.id]), {"archived": "0"}, follow=True)
    assert "is back in your conversations" in restored.content.decode()
    assert "Tide tables" in sidebar_titles(client, "today")


def test_someone_elses_conversation_cannot_be_pinned_archived_or_deleted(bob, chats):
    client = signed_in_client(bob)
    tides = chats["Tide tables"]
    for name, fields in (
        ("pin_conversation", {"pinned": "1"}),
        ("archive_conversation", {"archived": "1"}),
        ("delete_conversation", {}),
    ):
        assert client.post(reverse(name, args=[tides.id]), fields).status_code == 404
    tides.refresh_from_db()
    assert tides.pinned_at is None and tides.archived_at is None


def test_deleting_from_the_sidebar_answers_json(alice, chats):
    client = signed_in_client(alice)
    soup = chats["Soup recipes"]
    answer = client.post(reverse("delete_conversation", args=[soup.id]), HTTP_ACCEPT="application/json")
    assert answer.json() == {"deleted": True}
    assert not Conversation.objects.filter(pk=soup.pk).exists()


def test_live_search_gives_plain_text_snippets_with_the_matched_words_marked(alice, bob, chats):
    client = signed_in_client(alice)
    found = client.get(reverse("search"), {"q": "tide"}, HTTP_ACCEPT="application/json").json()
    [result] = found["results"]
    assert result["title"] == [["Tide", True], [" tables", False]]
    text = "".join(piece for piece, _ in result["snippet"])
    assert text == "High tide in Brest is at noon; see the tables."
    assert [piece for piece, match in result["snippet"] if match] == ["tide"]
    message = chats["Tide tables"].messages.get()
    assert result["url"] == f"{chats['Tide tables'].get_absolute_url()}?message={message.pk}"
    assert client.get(reverse("search"), {"q": "tides"}).status_code == 200  # the page too
    bobs = signed_in_client(bob).get(reverse("search"), {"q": "brest"}, HTTP_ACCEPT="application/json")
    assert bobs.json()["results"] == []


def test_the_search_page_marks_matches_and_never_shows_markup(alice, chats):
    Message.objects.create(
        conversation=chats["Otter facts"],
        role=Message.Role.USER,
        content="Otters <img src=x onerror=alert(1)> hold **hands** while they sleep",
    )
    page = signed_in_client(alice).get(reverse("search"), {"q": "hands"}).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt; hold <mark>hands</mark> while they sleep" in page
    assert "**" not in page.split('class="results"', 1)[1]


def test_plain_text_keeps_the_words_of_code_lists_and_math():
    markdown = "# Title\n\n- one\n- *two*\n\n```py\nprint(1)\n```\n\nand $x^2$ > 1"
    assert plain_text(markdown) == "Title one two print(1) and x^2 > 1"


def test_a_snippet_starts_at_a_word_and_says_what_was_cut():
    text = " ".join(f"word{n}" for n in range(100)) + " otter " + "tail " * 60
    pieces = snippet(text, word_pattern(query_words('"otters" -seal OR')))
    assert pieces[0].text == "…" and pieces[-1].text == "…"
    assert pieces[1].text.startswith("word") and [p.text for p in pieces if p.match] == ["otter"]
    assert snippet("no match here", word_pattern(["otter"])) is None


def test_on_postgresql_search_as_you_type_matches_unfinished_words(alice, chats):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("substring search matches unfinished words already")
    client = signed_in_client(alice)

    def titles(query: str, **headers) -> list[str]:
        answer = client.get(reverse("search"), {"q": query}, **headers)
        if headers:
            return ["".join(piece for piece, _ in result["title"]) for result in answer.json()["results"]]
        return [hit.conversation.title for hit in answer.context["results"]]

    assert titles("bre", HTTP_ACCEPT="application/json") == ["Tide tables"]  # "Brest", unfinished
    assert titles("hig tid", HTTP_ACCEPT="application/json") == ["Tide tables"]
    assert titles("bre") == []  # the results page searches whole words
    assert titles("it's & | !", HTTP_ACCEPT="application/json") == []  # tsquery syntax is not passed on
