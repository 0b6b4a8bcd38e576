"""Credentials and agents in Django admin: write-only keys, validation, "Test connection"."""

import pytest
from django.urls import reverse

from agents.models import Agent, Credential, Platform
from agents.platforms import PLATFORMS
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

SECRET = "sk-live-abcdefghijklmnop1234"


@pytest.fixture
def credential(sketricgen_credential):
    return sketricgen_credential


def credential_form(**overrides) -> dict:
    return {
        "name": "Team account",
        "platform": "sketricgen",
        "base_url": "https://chat-v2.sketricgen.ai",
        "api_key": SECRET,
        **overrides,
    }


def test_a_new_key_is_stored_encrypted_and_never_shown_again(admin_client):
    response = admin_client.post(reverse("admin:agents_credential_add"), credential_form())
    assert response.status_code == 302
    credential = Credential.objects.get()
    assert SECRET not in credential.api_key_encrypted
    assert credential.api_key == SECRET
    assert credential.api_key_last4 == "1234"

    change_page = admin_client.get(reverse("admin:agents_credential_change", args=[credential.pk]))
    assert SECRET not in change_page.content.decode()
    assert "…1234" in change_page.content.decode()
    listing = admin_client.get(reverse("admin:agents_credential_changelist")).content.decode()
    assert "…1234" in listing and SECRET not in listing


def test_a_key_is_required_for_a_new_credential(admin_client):
    response = admin_client.post(reverse("admin:agents_credential_add"), credential_form(api_key=""))
    assert response.status_code == 200
    assert not Credential.objects.exists()


def test_an_empty_key_field_keeps_the_current_key(admin_client, credential):
    url = reverse("admin:agents_credential_change", args=[credential.pk])
    response = admin_client.post(
        url,
        credential_form(
            base_url=credential.base_url,
            api_key="",
            name="Renamed",
            options_platform="sketricgen",
            option_admin_base_url=credential.options["admin_base_url"],
        ),
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert (credential.name, credential.api_key) == ("Renamed", "demo-key")


def test_changing_the_base_url_requires_the_key_again(admin_client, credential):
    url = reverse("admin:agents_credential_change", args=[credential.pk])
    response = admin_client.post(url, credential_form(base_url="https://elsewhere.example", api_key=""))
    assert response.status_code == 200
    assert "enter the API key again" in response.content.decode()
    credential.refresh_from_db()
    assert credential.base_url != "https://elsewhere.example"

    response = admin_client.post(
        url, credential_form(base_url="https://elsewhere.example", api_key="new-key-9876")
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert (credential.base_url, credential.api_key) == ("https://elsewhere.example", "new-key-9876")


@pytest.mark.parametrize(
    "url", ["ftp://example.com", "javascript:alert(1)", "file:///etc/passwd", "example.com"]
)
def test_base_urls_must_be_http_or_https(admin_client, url):
    response = admin_client.post(reverse("admin:agents_credential_add"), credential_form(base_url=url))
    assert response.status_code == 200
    assert not Credential.objects.exists()


def test_test_connection_reports_success_in_plain_words(admin_client, credential):
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "test_connection", "_selected_action": [credential.pk]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("Connected to SketricGen" in m for m in messages), messages


def test_test_connection_reports_a_rejected_key(admin_client, credential, sketricgen):
    sketricgen.app.api_keys = {"another"}
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "test_connection", "_selected_action": [credential.pk]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("rejected this credential" in m for m in messages), messages


def test_test_connection_reports_an_unreachable_platform(admin_client, db):
    credential = Credential(platform=Platform.SKETRICGEN, name="Nowhere", base_url="http://127.0.0.1:9")
    credential.options = {"admin_base_url": "http://127.0.0.1:9/admin/v1"}
    credential.set_api_key("k")
    credential.save()
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "test_connection", "_selected_action": [credential.pk]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("Could not connect" in m for m in messages), messages


def test_agents_have_a_test_connection_action_too(admin_client, credential):
    agent = Agent.objects.create(name="Helper", slug="helper", credential=credential, upstream_agent_id="a1")
    response = admin_client.post(
        reverse("admin:agents_agent_changelist"),
        {"action": "test_connection", "_selected_action": [agent.pk]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("Helper: Connected") for m in messages), messages


def test_agent_list_shows_the_columns_that_matter(admin_client, credential):
    Agent.objects.create(name="Helper", slug="helper", credential=credential, upstream_agent_id="agent-77")
    page = admin_client.get(reverse("admin:agents_agent_changelist") + "?q=agent-77").content.decode()
    assert "Helper" in page and "SketricGen" in page and "agent-77" in page


def test_conversations_are_read_only_in_the_admin(admin_client, admin_user, credential):
    agent = Agent.objects.create(name="Helper", slug="helper", credential=credential, upstream_agent_id="a1")
    conversation = Conversation.objects.create(owner=admin_user, agent=agent, title="Plans")
    conversation.messages.create(role=Message.Role.USER, content="hello")
    assert admin_client.get(reverse("admin:conversations_conversation_add")).status_code == 403
    page = admin_client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    assert page.status_code == 200
    assert "hello" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    response = admin_client.post(
        reverse("admin:conversations_conversation_change", args=[conversation.pk]), {"title": "Changed"}
    )
    assert response.status_code == 403
    conversation.refresh_from_db()
    assert conversation.title == "Plans"


def test_an_empty_base_url_takes_the_platforms_usual_address(admin_client):
    response = admin_client.post(reverse("admin:agents_credential_add"), credential_form(base_url=""))
    assert response.status_code == 302
    assert Credential.objects.get().base_url == "https://chat-v2.sketricgen.ai"


def agent_form(credential, **overrides) -> dict:
    return {
        "name": "Helper",
        "slug": "helper",
        "description": "",
        "credential": credential.pk,
        "upstream_agent_id": "agent-1",
        "enabled": "on",
        **overrides,
    }


def platform_credential(platform: str) -> Credential:
    credential = Credential(platform=platform, name=platform, base_url="https://platform.example")
    credential.set_api_key("demo-key")
    credential.save()
    return credential


def option_fields(response) -> set[str]:
    form = response.context["adminform"].form
    return {name.removeprefix("option_") for name in form.fields if name.startswith("option_")}


@pytest.mark.parametrize(
    ("platform", "fields"),
    [
        ("sketricgen", {"stream", "enable_hitl", "contact_id", "disable_conversation_history"}),
        (
            "workflow_chat",
            {"preferredMode", "agentVersion", "templateSearchMode", "timezone", "workflowId", "definition"},
        ),
        ("slug_chat", {"stream", "user_identifier"}),
        ("agentweave", {"type", "org_id", "pay_account"}),
        ("a2a", set()),
    ],
)
def test_an_agent_form_shows_exactly_its_platforms_settings(admin_client, platform, fields):
    credential = platform_credential(platform)
    agent = Agent.objects.create(name="A", slug="a", credential=credential, upstream_agent_id="x")

    changing = admin_client.get(reverse("admin:agents_agent_change", args=[agent.pk]))
    adding = admin_client.get(reverse("admin:agents_agent_add") + f"?credential={credential.pk}")

    assert option_fields(changing) == fields
    assert option_fields(adding) == fields


def test_agent_settings_are_saved_as_chosen(admin_client, credential):
    response = admin_client.post(
        reverse("admin:agents_agent_add"),
        agent_form(
            credential, options_platform="sketricgen", option_contact_id="email", option_enable_hitl="on"
        ),
    )
    assert response.status_code == 302
    assert Agent.objects.get().options == {"contact_id": "email", "enable_hitl": True, "stream": False}
    page = admin_client.get(reverse("admin:agents_agent_change", args=[Agent.objects.get().pk]))
    assert 'value="email" selected' in page.content.decode()


@pytest.mark.parametrize(
    ("chosen", "field", "problem"),
    [
        ({"option_org_id": "org-1"}, "option_pay_account", "pay_account is required when org_id is set"),
        ({"option_pay_account": "Person"}, "option_pay_account", "only applies together with org_id"),
        ({"option_type": "video"}, "option_type", "Select a valid choice"),
    ],
)
def test_agent_settings_are_checked_for_the_platform(admin_client, chosen, field, problem):
    credential = platform_credential("agentweave")
    response = admin_client.post(
        reverse("admin:agents_agent_add"),
        agent_form(credential, options_platform="agentweave", **chosen),
    )
    assert response.status_code == 200
    assert any(problem in error for error in response.context["adminform"].form.errors[field])
    assert not Agent.objects.exists()


def test_a_workflow_definition_without_a_manual_root_is_refused(admin_client):
    credential = platform_credential("workflow_chat")
    response = admin_client.post(
        reverse("admin:agents_agent_add"),
        agent_form(credential, options_platform="workflow_chat", option_definition='{"nodes": []}'),
    )
    assert response.status_code == 200
    assert "root" in " ".join(response.context["adminform"].form.errors["option_definition"])


def test_choosing_a_credential_on_another_platform_starts_its_settings_at_their_defaults(
    admin_client, credential
):
    agent = Agent.objects.create(
        name="A", slug="a", credential=credential, upstream_agent_id="x", options={"contact_id": "email"}
    )
    other = platform_credential("agentweave")

    response = admin_client.post(
        reverse("admin:agents_agent_change", args=[agent.pk]),
        agent_form(other, slug="a", options_platform="sketricgen", option_contact_id="email"),
        follow=True,
    )

    agent.refresh_from_db()
    assert agent.credential == other
    assert agent.options == {}
    assert response.resolver_match.url_name == "agents_agent_change"
    assert "AgentWeave settings start at their defaults" in response.content.decode()
    assert option_fields(response) == {"type", "org_id", "pay_account"}


def test_a_credential_form_shows_its_platforms_settings(admin_client, credential):
    page = admin_client.get(reverse("admin:agents_credential_change", args=[credential.pk]))
    assert option_fields(page) == {"admin_base_url", "upload_init_url", "upload_complete_url"}
    workflow = platform_credential("workflow_chat")
    page = admin_client.get(reverse("admin:agents_credential_change", args=[workflow.pk]))
    assert option_fields(page) == set()
    assert "takes no further settings" in page.content.decode()


def test_adding_a_credential_asks_for_its_platform_first(admin_client):
    page = admin_client.get(reverse("admin:agents_credential_add"))
    html = page.content.decode()
    assert page.status_code == 200 and "choose its platform" in html
    for entry in PLATFORMS.values():
        assert f'href="?platform={entry.id}"' in html and entry.label in html
    assert (
        "https://chat-v2.sketricgen.ai" in html
    )  # where the key will be sent unless the admin says otherwise


def test_the_first_add_form_shows_the_chosen_platforms_settings_and_one_api_key_field(admin_client):
    page = admin_client.get(reverse("admin:agents_credential_add") + "?platform=sketricgen")
    assert page.context["adminform"].form.initial["platform"] == "sketricgen"
    assert option_fields(page) == {"admin_base_url", "upload_init_url", "upload_complete_url"}
    html = page.content.decode()
    assert html.count(">API key") == 1 and "Choose the platform and save" not in html
    assert ">Base URL" in html and "keep the current key" not in html  # a new credential has none


def test_credential_settings_are_saved_and_checked(admin_client):
    response = admin_client.post(
        reverse("admin:agents_credential_add"),
        credential_form(options_platform="sketricgen", option_admin_base_url="ftp://x"),
    )
    assert response.status_code == 200
    assert Credential.objects.count() == 0
    response = admin_client.post(
        reverse("admin:agents_credential_add"),
        credential_form(options_platform="sketricgen", option_admin_base_url="https://admin.example/v1"),
    )
    assert response.status_code == 302
    assert Credential.objects.get().options == {"admin_base_url": "https://admin.example/v1"}


def test_import_agents_lists_the_accounts_agents_across_pages_and_creates_the_chosen(
    admin_client, credential
):
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "import_agents", "_selected_action": [credential.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "Helpdesk" in page and "Sales analyst" in page
    assert page.count('name="agent_id"') == 3  # the fake's three agents, over two pages

    url = reverse("admin:agents_credential_import", args=[credential.pk])
    response = admin_client.post(url, {"agent_id": ["agent_demo_helpdesk", "agent_demo_analyst"]})
    assert response.status_code == 302
    imported = {a.upstream_agent_id: a for a in Agent.objects.all()}
    assert set(imported) == {"agent_demo_helpdesk", "agent_demo_analyst"}
    assert imported["agent_demo_helpdesk"].slug == "helpdesk"
    assert imported["agent_demo_helpdesk"].credential == credential

    again = admin_client.get(url).content.decode()
    assert again.count('name="agent_id"') == 1
    assert again.count("already here") == 2


def test_import_agents_reports_a_rejected_key(admin_client, credential, sketricgen):
    sketricgen.app.api_keys = {"other"}
    response = admin_client.get(reverse("admin:agents_credential_import", args=[credential.pk]), follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert any("rejected this credential" in m for m in messages), messages
    assert not Agent.objects.exists()


@pytest.mark.parametrize(
    ("platform", "upstream_id"),
    [
        ("sketricgen", "agent-demo"),
        ("workflow_chat", "caddie"),
        ("slug_chat", "support-agent"),
        ("agentweave", "a1"),
        ("a2a", "agent"),
    ],
)
def test_test_connection_works_for_every_platform(admin_client, served_fakes, platform, upstream_id):
    server = served_fakes[platform]
    server.app.reset()
    credential = Credential(platform=platform, name=platform, base_url=server.url)
    credential.options = {"admin_base_url": f"{server.url}/admin/v1"} if platform == "sketricgen" else {}
    credential.set_api_key("demo-key")
    credential.save()
    agent = Agent.objects.create(
        name=platform, slug=platform, credential=credential, upstream_agent_id=upstream_id
    )
    for model, obj in (("credential", credential), ("agent", agent)):
        response = admin_client.post(
            reverse(f"admin:agents_{model}_changelist"),
            {"action": "test_connection", "_selected_action": [obj.pk]},
            follow=True,
        )
        messages = [(m.level_tag, str(m)) for m in response.context["messages"]]
        assert [level for level, _ in messages] == ["success"], messages


# --- Test connection never spends the customer's credits unasked ------------------------------


@pytest.fixture
def agentweave_agent(served_fakes, db):
    server = served_fakes["agentweave"]
    server.app.reset()
    credential = Credential(platform="agentweave", name="Weave", base_url=server.url)
    credential.set_api_key("demo-key")
    credential.save()
    yield Agent.objects.create(name="Weaver", slug="weaver", credential=credential, upstream_agent_id="a1")
    server.app.reset()


def test_test_connection_runs_no_agent_turn_on_any_platform(admin_client, served_fakes, agentweave_agent):
    response = admin_client.post(
        reverse("admin:agents_agent_changelist"),
        {"action": "test_connection", "_selected_action": [agentweave_agent.pk]},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert any("no agent turn ran" in m for m in messages), messages
    assert served_fakes["agentweave"].app.threads == {}


def test_a_real_message_is_sent_only_after_the_admin_confirms(admin_client, served_fakes, agentweave_agent):
    chosen = {"action": "test_with_a_real_message", "_selected_action": [agentweave_agent.pk]}
    asked = admin_client.post(reverse("admin:agents_agent_changelist"), chosen)

    assert asked.status_code == 200
    assert "may cost the account credits" in asked.content.decode()
    assert served_fakes["agentweave"].app.threads == {}

    done = admin_client.post(
        reverse("admin:agents_agent_changelist"), {**chosen, "confirmed": "yes"}, follow=True
    )
    messages = [str(m) for m in done.context["messages"]]
    assert any(m.startswith("Weaver: Connected to AgentWeave: the agent answered") for m in messages), (
        messages
    )
    assert len(served_fakes["agentweave"].app.threads) == 1


def test_import_with_a_run_only_key_says_the_key_needs_manage_resources(admin_client, credential, sketricgen):
    sketricgen.app.key_access = {"demo-key": "run"}
    response = admin_client.post(
        reverse("admin:agents_credential_changelist"),
        {"action": "import_agents", "_selected_action": [credential.pk]},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert any("needs a key with “Manage resources” access" in m for m in messages), messages
