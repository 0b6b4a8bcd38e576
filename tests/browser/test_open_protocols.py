"""In Chromium: a team member chats with an agent served over AG-UI (Pydantic AI's real server, scripted),
approving its action, and with a model behind an OpenAI-compatible API (the demo's fake)."""

import pytest
from playwright.sync_api import expect

from tests import ag_ui_server
from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, send
from tests.fakes import ServedApp

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pydantic_ai_agent(live_site):
    """Pydantic AI's AG-UI server on 127.0.0.1, added to the site as the agent "Field helper"."""
    with ServedApp(ag_ui_server.app) as served:
        live_site.shell(
            "from agents.models import Agent, Credential; "
            "credential, _ = Credential.objects.get_or_create(name='Our AG-UI agents', "
            f"defaults={{'platform': 'ag_ui', 'base_url': {served.url!r}}}); "
            f"credential.base_url = {served.url!r}; credential.set_api_key('team-token'); credential.save(); "
            "Agent.objects.update_or_create(slug='field-helper', defaults={'name': 'Field helper', "
            "'credential': credential, 'upstream_agent_id': '/agent', 'enabled': True}); print(1)"
        )
        yield served
        # Other browser tests count the site's agents: leave only the demo's.
        live_site.shell(
            "from agents.models import Agent, Credential; from conversations.models import Conversation; "
            "Conversation.objects.filter(agent__slug='field-helper').delete(); "
            "Agent.objects.filter(slug='field-helper').delete(); "
            "Credential.objects.filter(name='Our AG-UI agents').delete(); print(1)"
        )


def open_agent(page, site, name: str, slug: str) -> None:
    page.goto(f"{site.url}/")
    page.get_by_role("link", name=name).first.click()
    page.wait_for_url(f"**/agents/{slug}/new/")


def test_an_ag_ui_agent_calls_a_tool_and_asks_before_acting(signed_in, live_site, pydantic_ai_agent):
    page = signed_in
    ag_ui_server.DELETED.clear()
    open_agent(page, live_site, "Field helper", "field-helper")

    send(page, "What is the weather? Use the weather tool.")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".msg-body")).to_have_text("The tool said: Sunny in Paris, 22 °C. Done.")
    chip = reply.locator("li.tool-chip")
    expect(chip.locator(".tool-name")).to_have_text("get_weather")
    chip.locator("summary").click()
    expect(chip.locator(".tool-arguments")).to_contain_text('"city": "Paris"')
    expect(chip.locator(".tool-result")).to_have_text("Sunny in Paris, 22 °C")
    screenshot(page, "ag-ui-tool-call")

    send(page, "Now delete my notes file.")
    reply = page.locator(LAST_REPLY)
    panel = reply.locator(".approval")
    expect(panel).to_have_attribute("data-state", "pending")
    expect(panel.locator(".approval-name")).to_have_text(["delete_file"])
    expect(panel).to_contain_text("notes.txt")
    assert ag_ui_server.DELETED == []
    screenshot(page, "ag-ui-approval")
    panel.locator(".approval-action").first.get_by_label("Approve").check()
    panel.get_by_role("button", name="Send decisions").click()
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".msg-body")).to_have_text("The tool said: Deleted notes.txt. Done.")
    assert ag_ui_server.DELETED == ["notes.txt"]

    send(page, "Thanks!")
    # The agent gets the whole conversation each turn: both exchanges, with the calls and results.
    expect(page.locator(LAST_REPLY).locator(".msg-body")).to_contain_text("I was sent 8 earlier message(s).")


@pytest.mark.parametrize(
    ("viewport", "scheme", "name"),
    [
        ({"width": 1280, "height": 860}, "light", "desktop"),
        ({"width": 375, "height": 740}, "dark", "phone-dark"),
    ],
)
def test_an_openai_compatible_model_remembers_the_conversation_and_shows_its_usage(
    browser, live_site, viewport, scheme, name
):
    from tests.browser.conftest import sign_in

    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, live_site)
        open_agent(page, live_site, "OpenAI-compatible demo", "openai-compatible-demo")
        send(page, "My favourite colour is green [[words=30]]")
        first = page.locator(LAST_REPLY)
        expect(first).to_have_attribute("data-status", "complete")
        expect(first.locator(".msg-usage")).to_have_text("6 tokens in, 30 out")

        send(page, "What did I tell you?")
        second = page.locator(LAST_REPLY)
        expect(second).to_have_attribute("data-status", "complete")
        expect(second.locator(".msg-body")).to_contain_text("2 earlier message(s) came with yours")
        expect(second.locator(".msg-usage")).to_contain_text("tokens in")
        screenshot(page, f"openai-compatible-{name}")

        page.reload()
        expect(page.locator(LAST_REPLY).locator(".msg-usage")).to_contain_text("tokens in")
    finally:
        context.close()
