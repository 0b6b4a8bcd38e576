import json
import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent, Credential
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def plain_http(settings):
    """The site without TLS and without collected static files, as in local runs."""
    settings.SECURE_SSL_REDIRECT = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def credential():
    cred = Credential(platform="sketricgen", name="x", base_url="http://127.0.0.1:9")
    cred.set_api_key("k")
    cred.save()
    return cred


@pytest.fixture
def agent(credential):
    return Agent.objects.create(
        name="Research Helper",
        slug="research",
        description="Finds sources and summarises them.",
        credential=credential,
        upstream_agent_id="agent-1",
    )


@pytest.fixture
def disabled_agent(credential):
    return Agent.objects.create(
        name="Retired Bot", slug="retired", credential=credential, upstream_agent_id="agent-2", enabled=False
    )


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def history(alice, agent):
    """Alice's conversation: a question, a rendered answer with a tool call, a failed reply."""
    conversation = Conversation.objects.create(owner=alice, agent=agent, title="Sources on tides")
    Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content="Find <img src=x onerror=alert(1)> sources"
    )
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content=(
            "Here are **three** sources:\n\n"
            "| Title | Year |\n|---|--:|\n| Tides | 2001 |\n\n"
            "```python\nprint('tide')\n```\n\n"
            "<script>alert('xss')</script> [bad](javascript:alert(1)) "
            "![tracker](https://evil.example/pixel.png)"
        ),
        tool_calls=[{"id": "t1", "name": "web_search", "status": "done"}],
        seq=12,
    )
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content="And more?")
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.ERROR,
        error="The platform answered 503.",
    )
    return conversation


class Tags(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def page_tags(response) -> list[tuple[str, dict[str, str | None]]]:
    return Tags(response.content.decode()).found


def page_config(response) -> dict:
    match = re.search(
        r'<script id="chat-config" type="application/json">(.*?)</script>', response.content.decode()
    )
    assert match
    return json.loads(match.group(1))


# Signing in


@pytest.mark.parametrize(
    "url",
    ["/", "/agents/research/new/", "/c/01jabcdefghjkmnpqrstvwxyz0/"],
)
def test_pages_need_a_login(client, agent, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_creating_a_conversation_needs_a_login(client, agent):
    response = client.post(reverse("new_conversation", args=[agent.slug]))
    assert response.status_code == 302
    assert not Conversation.objects.exists()


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="username"' in content
    assert 'name="password"' in content
    assert 'autocomplete="current-password"' in content


def test_login_signs_in_and_goes_home(client, alice):
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("chat")


# Home: the agent picker


def test_home_lists_enabled_agents_only(alice_client, agent, disabled_agent):
    response = alice_client.get(reverse("chat"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Research Helper" in content
    assert "Finds sources and summarises them." in content
    assert reverse("new_conversation", args=["research"]) in content
    assert "Retired Bot" not in content


def test_home_shows_the_picker_for_a_single_agent(alice_client, agent):
    response = alice_client.get(reverse("chat"))
    assert response.status_code == 200
    assert response.content.decode().count('class="agent-card"') == 1


def test_home_without_agents_says_so(alice_client):
    response = alice_client.get(reverse("chat"))
    assert "No agents are available yet." in response.content.decode()


def test_sidebar_lists_own_titled_conversations_newest_first(alice_client, alice, bob, agent):
    older = Conversation.objects.create(owner=alice, agent=agent, title="Older chat")
    newer = Conversation.objects.create(owner=alice, agent=agent, title="Newer chat")
    Conversation.objects.create(owner=alice, agent=agent)  # never sent a message
    Conversation.objects.create(owner=bob, agent=agent, title="Bob's secret plans")
    content = alice_client.get(reverse("chat")).content.decode()
    assert content.index("Newer chat") < content.index("Older chat")
    assert "Bob&#x27;s secret plans" not in content
    assert "Bob's secret plans" not in content
    assert content.count('class="conv-link"') == 2
    assert newer.get_absolute_url() in content
    assert older.get_absolute_url() in content


# A new conversation


def test_new_conversation_page_is_an_empty_chat(alice_client, agent):
    response = alice_client.get(reverse("new_conversation", args=[agent.slug]))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="composer-input"' in content
    assert "Message Research Helper" in content
    config = page_config(response)
    assert config["conversationId"] is None
    assert config["wsPath"] is None
    assert config["newConversationUrl"] == reverse("new_conversation", args=[agent.slug])
    assert config["csrfToken"]
    assert not Conversation.objects.exists()


def test_posting_creates_a_conversation_owned_by_the_user(alice_client, alice, bob, agent, disabled_agent):
    response = alice_client.post(
        reverse("new_conversation", args=[agent.slug]),
        {"owner": bob.pk, "owner_id": bob.pk, "agent": disabled_agent.pk, "title": "forged", "id": "x"},
    )
    assert response.status_code == 201
    data = response.json()
    conversation = Conversation.objects.get()
    assert conversation.owner == alice
    assert conversation.agent == agent
    assert conversation.title == ""
    assert data == {
        "id": conversation.id,
        "url": reverse("conversation", args=[conversation.id]),
        "ws_url": f"ws://testserver/ws/conversations/{conversation.id}/",
    }


def test_websocket_url_is_secure_behind_https(alice_client, agent):
    response = alice_client.post(reverse("new_conversation", args=[agent.slug]), secure=True)
    assert response.json()["ws_url"].startswith("wss://testserver/ws/conversations/")


def test_posting_needs_the_csrf_token(alice, agent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    url = reverse("new_conversation", args=[agent.slug])
    assert client.post(url).status_code == 403
    token = page_config(client.get(url))["csrfToken"]
    assert client.post(url, headers={"X-CSRFToken": token}).status_code == 201
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize("slug", ["retired", "no-such-agent"])
def test_unavailable_agents_cannot_be_started(alice_client, disabled_agent, slug):
    url = reverse("new_conversation", args=[slug])
    assert alice_client.get(url).status_code == 404
    assert alice_client.post(url).status_code == 404
    assert not Conversation.objects.exists()


def test_new_conversation_refuses_other_methods(alice_client, agent):
    url = reverse("new_conversation", args=[agent.slug])
    assert alice_client.put(url).status_code == 405
    assert alice_client.delete(url).status_code == 405


# A conversation's page


def test_conversation_page_renders_history(alice_client, history):
    response = alice_client.get(history.get_absolute_url())
    assert response.status_code == 200
    content = response.content.decode()
    assert "<strong>three</strong>" in content
    assert '<td class="align-right">2001</td>' in content
    assert '<span class="codeblock-lang">python</span>' in content
    assert '<span class="nb">print</span>' in content
    assert 'data-tool-id="t1" data-status="done"' in content
    assert "web_search" in content
    assert 'data-status="error"' in content
    assert "The platform answered 503." in content
    assert 'aria-current="page"' in content
    assert 'aria-live="polite"' in content
    config = page_config(response)
    assert config["conversationId"] == history.id
    assert config["wsPath"] == f"/ws/conversations/{history.id}/"
    assert config["newConversationUrl"] is None


def test_history_is_sanitised(alice_client, history):
    response = alice_client.get(history.get_absolute_url())
    content = response.content.decode()
    assert "<script>alert" not in content
    assert "&lt;script&gt;alert('xss')&lt;/script&gt;" in content
    for tag, attributes in page_tags(response):
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        assert not (attributes.get("href") or "").lower().startswith("javascript:")
        if tag == "img":
            assert (attributes.get("src") or "").startswith("/")
    # The tracker image is a link, never an image.
    assert (
        '<a href="https://evil.example/pixel.png" rel="noopener noreferrer nofollow">tracker</a>' in content
    )
    # The user's own text is shown as text.
    assert "Find &lt;img src=x onerror=alert(1)&gt; sources" in content


def test_raw_markdown_is_on_the_page_for_copying(alice_client, history):
    response = alice_client.get(history.get_absolute_url())
    match = re.search(
        r'<script id="message-texts" type="application/json">(.*?)</script>', response.content.decode()
    )
    texts = json.loads(match.group(1))
    messages = list(history.messages.all())
    assert texts[str(messages[1].pk)] == messages[1].content
    assert "<script>" not in match.group(1)


def test_message_elements_carry_what_the_script_needs(alice_client, history):
    response = alice_client.get(history.get_absolute_url())
    articles = [attributes for tag, attributes in page_tags(response) if tag == "article"]
    messages = list(history.messages.all())
    shown = [a for a in articles if a.get("data-message-id")]
    assert [int(a["data-message-id"]) for a in shown] == [m.pk for m in messages]
    assert [a["id"] for a in shown] == [f"m-{m.pk}" for m in messages]
    assert shown[1]["data-status"] == "complete"
    assert shown[1]["data-seq"] == "12"
    assert shown[3]["data-status"] == "error"


def test_another_users_conversation_is_404(bob_client, history):
    assert bob_client.get(history.get_absolute_url()).status_code == 404


def test_unknown_conversation_is_404(alice_client, history):
    assert alice_client.get(reverse("conversation", args=["nosuchconversation"])).status_code == 404


def test_conversation_with_a_switched_off_agent_is_read_only(alice_client, history, agent):
    agent.enabled = False
    agent.save()
    response = alice_client.get(history.get_absolute_url())
    assert response.status_code == 200
    content = response.content.decode()
    assert "is not available any more" in content
    assert 'id="composer-input"' not in content
    assert page_config(response)["agentAvailable"] is False


# Content-Security-Policy


@pytest.mark.parametrize("page", ["home", "new", "conversation"])
def test_pages_send_a_strict_csp_and_no_inline_code(alice_client, history, agent, page):
    url = {
        "home": reverse("chat"),
        "new": reverse("new_conversation", args=[agent.slug]),
        "conversation": history.get_absolute_url(),
    }[page]
    response = alice_client.get(url)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "img-src 'self'" in policy
    assert "unsafe-inline" not in policy
    for tag, attributes in page_tags(response):
        if tag == "script":
            assert attributes.get("src") or attributes.get("type") == "application/json", attributes
        assert "style" not in attributes, (tag, attributes)
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        assert not (attributes.get("href") or "").startswith("javascript:")


def test_login_page_has_no_inline_code(client):
    response = client.get(reverse("login"))
    assert "Content-Security-Policy" in response
    for tag, attributes in page_tags(response):
        if tag == "script":
            assert attributes.get("src"), attributes
        assert "style" not in attributes, (tag, attributes)
