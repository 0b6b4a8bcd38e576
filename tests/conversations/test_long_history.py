"""Long conversations: each message rendered once, the newest page shown, older pages loaded on demand."""

import json
import re

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from conversations import models, views
from conversations.models import Attachment, Conversation, Message, ShareLink
from tests.conversations.conftest import signed_in_client
from tests.conversations.test_sharing import share

pytestmark = pytest.mark.django_db

HISTORY_LENGTH = 1000
PAGE_BYTES_LIMIT = 600_000


def reply_text(number: int) -> str:
    """A reply like an agent's: paragraphs, a list and a highlighted code block (~1.2 KB)."""
    return (
        f"Reply {number}: here is what I found about **tides** and _currents_ in the bay.\n\n"
        + "The moon pulls the water, the sun helps a little, and the shape of the coast decides the rest. "
        * 3
        + "\n\n- spring tides at full and new moon\n- neap tides in between\n- two highs a day, mostly\n\n"
        + "```python\ndef high_tides(day: int) -> list[float]:\n"
        + "    return [12.4 * n + 0.8 * day for n in range(2)]\n```\n"
    )


def seed_history(conversation: Conversation, count: int) -> list[Message]:
    return Message.objects.bulk_create(
        Message(
            conversation=conversation,
            role=Message.Role.USER if number % 2 == 0 else Message.Role.ASSISTANT,
            content=f"Question {number}: when is high tide?" if number % 2 == 0 else reply_text(number),
        )
        for number in range(count)
    )


@pytest.fixture
def long_chat(alice, sketricgen_agent):
    conversation = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title="Tides")
    seed_history(conversation, HISTORY_LENGTH)
    return conversation


@pytest.fixture
def renders(monkeypatch):
    """The texts the Markdown renderer was asked to render for pages."""
    rendered: list[str] = []
    real = models.render_markdown

    def counting(text: str) -> str:
        rendered.append(text)
        return real(text)

    monkeypatch.setattr(models, "render_markdown", counting)
    return rendered


def shown_numbers(html: str) -> list[int]:
    """The numbers of the messages shown, in page order (head, raw texts and templates left out)."""
    thread = re.split(r'<script id="(?:chat|share)-config"', html)[0].split('id="messages"')[-1]
    return [int(n) for n in re.findall(r"(?:Question|Reply) (\d+):", thread)]


def test_a_long_conversation_opens_with_its_newest_page_under_the_size_bound(alice, long_chat):
    response = signed_in_client(alice).get(long_chat.get_absolute_url())
    page = response.content.decode()
    assert len(response.content) < PAGE_BYTES_LIMIT
    assert shown_numbers(page) == list(range(HISTORY_LENGTH - views.MESSAGES_PER_PAGE, HISTORY_LENGTH))
    assert 'id="load-earlier"' in page
    texts = json.loads(re.search(r'<script id="message-texts"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert len(texts) == views.MESSAGES_PER_PAGE


def test_a_short_conversation_has_no_load_earlier_button(alice, sketricgen_agent):
    conversation = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title="Short")
    seed_history(conversation, 10)
    page = signed_in_client(alice).get(conversation.get_absolute_url()).content.decode()
    assert shown_numbers(page) == list(range(10))
    assert 'id="load-earlier"' not in page


def test_each_message_is_rendered_at_most_once_across_two_views_of_the_chat_page(alice, long_chat, renders):
    client = signed_in_client(alice)
    first = client.get(long_chat.get_absolute_url()).content
    assert len(renders) == views.MESSAGES_PER_PAGE // 2, "one rendering per reply shown"
    assert len(set(renders)) == len(renders)
    second = client.get(long_chat.get_absolute_url()).content
    assert len(renders) == views.MESSAGES_PER_PAGE // 2, "the second view renders nothing"
    assert first.split(b"csrfmiddlewaretoken")[0] == second.split(b"csrfmiddlewaretoken")[0]


def test_each_message_is_rendered_at_most_once_across_two_views_of_the_share_page(alice, long_chat, renders):
    url = share(signed_in_client(alice), long_chat, access="public")
    first = Client().get(url)
    assert len(first.content) < PAGE_BYTES_LIMIT
    assert shown_numbers(first.content.decode())[-1] == HISTORY_LENGTH - 1
    Client().get(url)
    assert len(renders) <= views.MESSAGES_PER_PAGE // 2
    assert len(set(renders)) == len(renders)


def test_a_kept_rendering_is_never_shown_for_changed_text(alice, long_chat):
    client = signed_in_client(alice)
    client.get(long_chat.get_absolute_url())
    last = long_chat.messages.order_by("-id").first()
    assert last.rendered_html and "Reply 999" in last.rendered_html
    # The relay saves a reply's text with `.update()`, which no model code sees.
    Message.objects.filter(pk=last.pk).update(content="Rewritten **after** the first view.")
    page = client.get(long_chat.get_absolute_url()).content.decode()
    assert "Rewritten <strong>after</strong> the first view." in page
    assert "Reply 999" not in page


def test_a_new_renderer_version_renders_again_when_shown(alice, long_chat, renders, monkeypatch):
    client = signed_in_client(alice)
    client.get(long_chat.get_absolute_url())
    monkeypatch.setattr(models, "RENDERER_VERSION", models.RENDERER_VERSION + 1)
    client.get(long_chat.get_absolute_url())
    assert len(renders) == views.MESSAGES_PER_PAGE, "every reply shown rendered once per version"


def walk_earlier(client: Client, first_page: str) -> list[int]:
    """Every message number, loading earlier pages as the browser does until there are none."""
    url = re.search(r'id="load-earlier" data-url="([^"]+)"', first_page).group(1).replace("&amp;", "&")
    numbers = shown_numbers(first_page)
    while url:
        response = client.get(url, HTTP_ACCEPT="application/json")
        assert response.status_code == 200
        page = response.json()
        assert len(page["html"]) < PAGE_BYTES_LIMIT
        numbers = shown_numbers(page["html"]) + numbers
        url = page["earlier_url"]
    return numbers


def test_loading_earlier_pages_brings_every_older_message_in_order(alice, long_chat):
    client = signed_in_client(alice)
    assert walk_earlier(client, client.get(long_chat.get_absolute_url()).content.decode()) == list(
        range(HISTORY_LENGTH)
    )


def test_an_earlier_page_carries_the_raw_texts_and_ids_the_chat_page_needs(alice, long_chat):
    client = signed_in_client(alice)
    oldest_shown = long_chat.messages.order_by("id")[HISTORY_LENGTH - views.MESSAGES_PER_PAGE]
    url = reverse("conversation_messages", args=[long_chat.id]) + f"?before={oldest_shown.pk}"
    page = client.get(url).json()
    previous = list(long_chat.messages.order_by("id")[HISTORY_LENGTH - 2 * views.MESSAGES_PER_PAGE :][:40])
    assert re.findall(r'data-message-id="(\d+)"', page["html"]) == [str(m.pk) for m in previous]
    assert page["texts"] == {str(m.pk): m.content for m in previous}


def test_another_user_gets_a_404_for_the_earlier_pages(alice, bob, long_chat):
    anchor = long_chat.messages.order_by("-id").first()
    url = reverse("conversation_messages", args=[long_chat.id]) + f"?before={anchor.pk}"
    assert signed_in_client(bob).get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to sign in


def test_a_cursor_from_another_conversation_or_not_a_number_is_a_404(alice, long_chat, sketricgen_agent):
    other = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title="Other")
    foreign = Message.objects.create(conversation=other, role=Message.Role.USER, content="hi")
    client = signed_in_client(alice)
    base = reverse("conversation_messages", args=[long_chat.id])
    assert client.get(f"{base}?before={foreign.pk}").status_code == 404
    assert client.get(f"{base}?before=abc").status_code == 404
    assert client.get(base).status_code == 404


def test_a_share_page_loads_its_earlier_pages_without_internal_ids(alice, long_chat):
    url = share(signed_in_client(alice), long_chat, access="public")
    viewer = Client()
    first_page = viewer.get(url).content.decode()
    assert walk_earlier(viewer, first_page) == list(range(HISTORY_LENGTH))
    earlier = viewer.get(re.search(r'data-url="([^"]+)"', first_page).group(1)).json()
    assert "data-message-id" not in earlier["html"] and earlier["texts"] == {}


def test_a_share_pages_earlier_pages_follow_the_links_access_rules(alice, bob, long_chat):
    owner = signed_in_client(alice)
    url = share(owner, long_chat, access="members")
    token = url.rstrip("/").rsplit("/", 1)[1]
    earlier = reverse("shared_messages", args=[token]) + "?before=960"
    assert signed_in_client(bob).get(earlier).status_code == 200
    assert Client().get(earlier).status_code == 302  # members only: sign in first
    assert signed_in_client(bob).get(reverse("shared_messages", args=[token[:-1] + "x"])).status_code == 404
    owner.post(reverse("revoke_share_link", args=[ShareLink.objects.get().pk]))
    assert signed_in_client(bob).get(earlier).status_code == 404


def test_a_snapshots_earlier_pages_are_frozen_too(alice, long_chat):
    url = share(signed_in_client(alice), long_chat, access="public")
    token = url.rstrip("/").rsplit("/", 1)[1]
    long_chat.messages.filter(content__startswith="Question 2:").update(content="Question 2: edited later")
    page = Client().get(reverse("shared_messages", args=[token]) + "?before=40").json()
    assert "Question 2: when is high tide?" in page["html"]
    assert "edited later" not in page["html"]


def test_a_search_result_links_to_the_old_message_it_found_and_the_page_includes_it(alice, bob, long_chat):
    old = long_chat.messages.order_by("id")[5]
    Message.objects.filter(pk=old.pk).update(content="Question 5: where do barnacles live?")
    client = signed_in_client(alice)
    results = client.get(reverse("search"), {"q": "barnacles"}).content.decode()
    link = f"{long_chat.get_absolute_url()}?message={old.pk}"
    assert f'href="{link}"' in results

    page = client.get(link).content.decode()
    assert f'id="m-{old.pk}"' in page
    assert shown_numbers(page) == list(range(5, HISTORY_LENGTH))
    assert 'id="load-earlier"' in page
    assert signed_in_client(bob).get(link).status_code == 404
    # A message id that is not this conversation's opens the newest page as usual.
    page = client.get(long_chat.get_absolute_url() + "?message=999999999").content.decode()
    assert shown_numbers(page)[0] == HISTORY_LENGTH - views.MESSAGES_PER_PAGE


def test_a_live_links_earlier_pages_follow_the_conversation_with_its_message_ids(alice, bob, long_chat):
    url = share(signed_in_client(alice), long_chat, access="members", live="1")
    viewer = signed_in_client(bob)
    first_page = viewer.get(url).content.decode()
    assert walk_earlier(viewer, first_page) == list(range(HISTORY_LENGTH))
    oldest_shown = long_chat.messages.order_by("id")[HISTORY_LENGTH - views.MESSAGES_PER_PAGE]
    earlier = re.search(r'data-url="([^"]+)"', first_page).group(1)
    assert earlier.endswith(f"?before={oldest_shown.pk}")
    page = viewer.get(earlier).json()
    assert len(page["texts"]) == views.MESSAGES_PER_PAGE and "data-message-id" in page["html"]


def test_an_earlier_page_keeps_files_tool_chips_and_decisions_with_the_shares_own_file_addresses(
    alice, long_chat
):
    question, reply = long_chat.messages.order_by("id")[2:4]
    attachment = Attachment(
        conversation=long_chat,
        message=question,
        name="chart.txt",
        content_type="text/plain",
        size=5,
        sha256="x",
    )
    attachment.file.save("chart.txt", ContentFile(b"chart"), save=False)
    attachment.save()
    reply.tool_calls = [{"id": "t1", "name": "tide_lookup", "status": "done"}]
    reply.approval = {"request_id": "r1", "actions": [{"name": "send_email"}], "status": "resolved"}
    reply.save()
    owner = signed_in_client(alice)
    token = share(owner, long_chat, access="public").rstrip("/").rsplit("/", 1)[1]
    oldest_of_second_page = long_chat.messages.order_by("id")[views.MESSAGES_PER_PAGE - 1]
    chat_url = reverse("conversation_messages", args=[long_chat.id])
    mine = owner.get(f"{chat_url}?before={oldest_of_second_page.pk}").json()["html"]
    share_url = reverse("shared_messages", args=[token])
    shared = Client().get(f"{share_url}?before={views.MESSAGES_PER_PAGE - 1}").json()["html"]
    for html in (mine, shared):
        assert "chart.txt" in html and 'data-tool-id="t1"' in html and "tide_lookup" in html
        assert "send_email" in html and "&quot;resolved&quot;" in html
    assert reverse("attachment", args=[long_chat.id, attachment.pk]) in mine
    assert reverse("shared_file", args=[token, attachment.pk]) in shared
    assert reverse("attachment", args=[long_chat.id, attachment.pk]) not in shared
    assert Client().get(reverse("shared_file", args=[token, attachment.pk])).status_code == 200
