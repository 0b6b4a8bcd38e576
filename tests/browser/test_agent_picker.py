"""Picking an agent in Chromium: a new chat with another agent from the top bar, filtered by typing."""

import pytest
from playwright.sync_api import expect

from agents.platforms import ENTRIES
from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser

EXTRA_AGENTS = [f"Picker agent {n}" for n in range(9)]


@pytest.fixture(scope="module")
def many_agents(live_site):
    """Nine more agents on the demo SketricGen credential, so the picker has more than eight."""
    names = repr(EXTRA_AGENTS)
    live_site.shell(
        "from agents.models import Agent; "
        "demo = Agent.objects.get(slug='sketricgen-demo'); "
        f"[Agent.objects.get_or_create(slug=n.lower().replace(' ', '-'), defaults=dict(name=n, "
        "description='Knows about ' + n.split()[-1], credential=demo.credential, "
        f"upstream_agent_id=demo.upstream_agent_id, options=demo.options)) for n in {names}]",
    )
    return EXTRA_AGENTS


def test_a_new_chat_with_another_agent_from_the_top_bar(signed_in, live_site, many_agents):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "First agent")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")

    page.get_by_label("New chat with an agent").click()
    finder = page.get_by_label("Find an agent")
    expect(finder).to_be_focused()
    picker = page.locator("#agent-picker-list")
    # every agent, the demo agents too (other modules on this site may have added more)
    for name in [*many_agents, "SketricGen demo"]:
        expect(picker.locator("li:visible", has_text=name)).to_have_count(1)
    assert picker.locator("li:visible").count() >= len(many_agents) + len(ENTRIES)
    finder.press_sequentially("agent 7", delay=20)
    expect(picker.locator("li:visible")).to_have_count(1)
    expect(picker.locator("li:visible")).to_contain_text("Knows about 7")
    screenshot(page, "agent-picker")
    finder.press("Enter")
    page.wait_for_url("**/agents/picker-agent-7/new/")
    expect(page.locator(".topbar-agent")).to_have_text("Picker agent 7")

    page.goto(f"{live_site.url}/")
    grid_filter = page.locator("#agent-grid-filter")
    grid_filter.fill("nothing like this")
    expect(page.locator(".home .agent-picker-none")).to_be_visible()
    grid_filter.fill("picker agent 3")
    expect(page.locator("#agent-grid li:visible")).to_have_count(1)
    page.set_viewport_size({"width": 390, "height": 800})
    page.get_by_label("New chat with an agent").click()
    page.wait_for_timeout(200)
    screenshot(page, "agent-picker-phone")
    page.keyboard.press("Escape")
    expect(page.get_by_label("New chat with an agent")).to_be_focused()
