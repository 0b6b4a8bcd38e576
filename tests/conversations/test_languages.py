"""The site in the reader's language: German pages hold no English, the choice is kept, sockets follow it."""

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client

from agents.models import Agent, Credential
from agents.platforms import ENTRIES
from conversations.models import Conversation, Feedback, Message, ShareLink
from conversations.protocol import RefusalCode
from conversations.usage import register_sqlite_percentile  # noqa: F401 (before the first connection)
from tests.conversations.sockets import frames_until

pytestmark = pytest.mark.django_db

QUESTION = "Kannst du die Quellen zusammenfassen?"
ANSWER = "Gerne, hier ist die Zusammenfassung."
# Text the pages show that is the same in both languages and no UI string: names, numbers, keys.
SAME_IN_BOTH = {"chatsite", "Esc", "O", "K", "/", "?", "↑", "↓", ";", "+", "·", "p95", "👍 / 👎", "–"}
# Django admin's own words that stay English (icons' alt text) or are German already ("Filter").
SAME_IN_BOTH |= {"True", "False", "Search", "Filter"}


@pytest.fixture(autouse=True)
def plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


class ShownText(HTMLParser):
    """Every piece of text a reader sees or hears: text nodes and the attributes read out or shown."""

    ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "data-copy", "data-copied"}

    def __init__(self) -> None:
        super().__init__()
        self.pieces: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skipping += 1
        values = dict(attrs)
        for name, value in attrs:
            if name in self.ATTRIBUTES and value:
                self.pieces.append(value)
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.pieces.append(values["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            self.pieces.append(" ".join(data.split()))


def shown_text(html: str) -> set[str]:
    parser = ShownText()
    parser.feed(html)
    return {piece for piece in parser.pieces if re.search(r"[A-Za-z]", piece)}


def translated_the_same() -> set[str]:
    """German translations that are spelled as the English (Live, Agent, Feedback, ...)."""
    same = set()
    for name in ("django", "djangojs"):
        for entry in polib.pofile(str(Path(settings.BASE_DIR) / f"locale/de/LC_MESSAGES/{name}.po")):
            if entry.msgstr == entry.msgid:
                same.add(entry.msgid)
    return same


def client_for(user=None, language: str = "de") -> Client:
    client = Client(headers={"accept-language": language})
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def walked_pages(alice, admin_user, sketricgen_agent):
    """The pages a member and an admin use, with a bit of everything on them."""
    conversation = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title="Quellenlage")
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content=QUESTION)
    reply = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content=ANSWER,
        status=Message.Status.COMPLETE,
        tool_calls=[{"id": "t1", "name": "suche", "status": "done", "arguments": "{}", "result": ""}],
    )
    Feedback.objects.create(message=reply, agent=sketricgen_agent, user=alice, rating="up", comment="gut")
    # An earlier version of the reply, regenerated away: the chat page shows 1/2 and the agent's memory.
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content="Eine frühere Fassung.",
        status=Message.Status.COMPLETE,
        first_version=reply,
        chosen=False,
        in_history=False,
    )
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content="Und weiter?")
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.INTERRUPTED,
        error="The reply was cut off when the site restarted.",  # written by the sweep, in no language
    )
    link = ShareLink(conversation=conversation, created_by=alice, access=ShareLink.Access.MEMBERS)
    link.take_snapshot()
    archived = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title="Altes Thema")
    Message.objects.create(conversation=archived, role=Message.Role.USER, content="alt")
    archived.set_archived(True)
    member_pages = [
        "/",
        conversation.get_absolute_url(),
        f"/search/?q={QUESTION.split()[0]}",
        "/search/?q=nichtsdergleichen",
        "/shared/",
        link.get_absolute_url(),
        "/archived/",
    ]
    # One agent on each platform, so the change forms show every platform's settings and help.
    platform_agents = [sketricgen_agent]
    for entry in ENTRIES:
        if entry.id == sketricgen_agent.credential.platform:
            continue
        credential = Credential(
            platform=entry.id, name=f"{entry.label} Zugang", base_url="https://example.com"
        )
        credential.set_api_key("demo-key")
        credential.save()
        platform_agents.append(
            Agent.objects.create(
                name=f"{entry.label} Agent",
                slug=f"{entry.id}-agent".replace("_", "-"),
                credential=credential,
                upstream_agent_id="agent-demo",
            )
        )
    admin_pages = [
        "/admin/agents/credential/add/",
        *(f"/admin/agents/agent/{agent.pk}/change/" for agent in platform_agents),
        *(f"/admin/agents/credential/{agent.credential_id}/change/" for agent in platform_agents),
        "/admin/usage/",
        f"/admin/usage/{sketricgen_agent.pk}/",
        "/admin/agents/agent/",
        "/admin/agents/credential/",
        "/admin/conversations/feedback/",
        "/admin/conversations/conversation/",
        "/admin/conversations/sharelink/",
    ]
    content = {
        QUESTION,
        ANSWER,
        "Und weiter?",
        "Quellenlage",
        "Altes Thema",
        "suche",
        "gut",
        "alice",
        "admin",
    }
    content |= {sketricgen_agent.name, sketricgen_agent.name[0], "Helper", "H", "A", sketricgen_agent.slug}
    credential = sketricgen_agent.credential
    content |= {
        credential.name,
        credential.base_url,
        credential.masked_key,
        sketricgen_agent.upstream_agent_id,
    }
    # Platforms are named by their own names.
    content |= {entry.label for entry in ENTRIES}
    content |= {agent.name for agent in platform_agents} | {agent.slug for agent in platform_agents}
    content |= {agent.credential.name for agent in platform_agents} | {"https://example.com", "demo-key"}
    # An empty JSON setting shows JSON's null.
    content |= {"null"}
    return {
        "member": member_pages,
        "admin": admin_pages,
        "content": content,
        "alice": alice,
        "admin_user": admin_user,
    }


def english_left(english: str, german: str, allowed: set[str]) -> set[str]:
    """Text the German page shows as the English one does, made of more than content and allowed words."""
    words = sorted(allowed, key=len, reverse=True)
    left = set()
    for piece in shown_text(german) & shown_text(english):
        rest = piece
        for text in words:
            rest = re.sub(rf"(?<!\w){re.escape(text)}(?!\w)", " ", rest)
        if re.search(r"[A-Za-z]", rest) and not any(piece in text for text in allowed):
            left.add(piece)
    return left


def test_german_pages_show_no_english(walked_pages):
    allowed = (
        walked_pages["content"] | SAME_IN_BOTH | translated_the_same() | {n for _, n in settings.LANGUAGES}
    )
    leftovers = {}
    for user, paths in (
        (walked_pages["alice"], walked_pages["member"]),
        (walked_pages["admin_user"], walked_pages["admin"]),
    ):
        for path in paths:
            german = client_for(user, "de").get(path)
            english = client_for(user, "en").get(path)
            assert german.status_code == english.status_code == 200, path
            assert '<html lang="de"' in german.content.decode() or path.startswith("/admin/"), path
            left = english_left(english.content.decode(), german.content.decode(), allowed)
            if left:
                leftovers[path] = sorted(left)
    signed_out = english_left(
        client_for(None, "en").get("/accounts/login/").content.decode(),
        client_for(None, "de").get("/accounts/login/").content.decode(),
        allowed,
    )
    if signed_out:
        leftovers["/accounts/login/"] = sorted(signed_out)
    assert not leftovers, f"English left on German pages: {leftovers}"


def test_a_german_page_says_it_in_german(walked_pages):
    page = client_for(walked_pages["alice"], "de").get("/").content.decode()
    assert "Mit wem möchten Sie sprechen?" in page and "Neuer Chat" in page and "Abmelden" in page
    chat = client_for(walked_pages["alice"], "de").get(walked_pages["member"][1]).content.decode()
    # The sweep's English words are shown in the reader's language; the agent's own text is not translated.
    assert "Die Antwort wurde abgebrochen, als die Website neu startete." in chat
    assert ANSWER in chat and "Nachricht an Helper" in chat


def test_the_language_chosen_in_the_menu_wins_over_the_browser(alice):
    client = client_for(alice, "en")
    assert '<html lang="en"' in client.get("/").content.decode()
    chosen = client.post("/i18n/setlang/", {"language": "de", "next": "/shared/"})
    assert chosen.status_code == 302 and chosen["Location"] == "/shared/"
    page = client.get("/shared/").content.decode()
    assert '<html lang="de"' in page and "Ihre geteilten Links" in page
    assert 'value="de" lang="de" aria-pressed="true"' in page
    back = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert back.status_code == 302 and "Your shared links" in client.get("/shared/").content.decode()


def test_dates_are_written_as_the_language_writes_them(alice, sketricgen_agent):
    conversation = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title="Termin")
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content="x")
    link = ShareLink(conversation=conversation, created_by=alice, access=ShareLink.Access.MEMBERS)
    link.take_snapshot()
    made = datetime(2026, 3, 5, 14, 7, tzinfo=UTC)
    ShareLink.objects.filter(pk=link.pk).update(created_at=made, updated_at=made)
    assert "5. März 2026 14:07" in client_for(alice, "de").get("/shared/").content.decode()
    assert "5 Mar 2026, 14:07" in client_for(alice, "en").get("/shared/").content.decode()


def test_the_javascript_catalog_is_the_pages_language(alice):
    german = client_for(alice, "de").get("/jsi18n/").content.decode()
    assert '"Approve": "Genehmigen"' in german and "Verbinde erneut" in german
    # Only the site's own strings: not Django admin's catalog.
    assert "Available %s" not in german
    assert '"Approve"' not in client_for(alice, "en").get("/jsi18n/").content.decode()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_german_socket_refuses_in_german(connect, alice, conversation):
    from channels.testing import WebsocketCommunicator

    from chatsite.asgi import application
    from tests.conversations.conftest import session_cookie_async

    cookie = await session_cookie_async(alice)
    headers = [
        (b"origin", b"http://127.0.0.1:8000"),
        (b"host", b"127.0.0.1:8000"),
        (b"cookie", f"sessionid={cookie}; {settings.LANGUAGE_COOKIE_NAME}=de".encode()),
        (b"accept-language", b"en"),
    ]
    socket = WebsocketCommunicator(application, f"/ws/conversations/{conversation.id}/", headers)
    connected, _ = await socket.connect()
    assert connected
    await socket.send_to(text_data="[1, 2]")
    refused = (await frames_until(socket, "error"))[-1]
    assert (
        refused["code"] == RefusalCode.BAD_FRAME
        and refused["message"] == "Nachrichten an den Server sind JSON-Objekte."
    )
    await socket.send_to(text_data='{"type": "resume", "message_id": 999999}')
    refused = (await frames_until(socket, "error"))[-1]
    assert refused["message"] == "Diese Antwort gibt es in dieser Unterhaltung nicht."
    await socket.disconnect()

    connected, english = await connect(alice, conversation.id)
    await english.send_to(text_data="[1, 2]")
    assert (await frames_until(english, "error"))[-1]["message"] == "Frames are JSON objects."
