"""An accessibility scan (axe-core) of the pages this issue changed, in each state a member meets."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser

# Only "minor" findings are let through (none today); heading order and repeated landmarks are "moderate".
HELD_TO = ("moderate", "serious", "critical")


def violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in HELD_TO
    ]


def test_no_moderate_or_worse_violation_on_the_chat_and_its_menus_and_dialogs(signed_in, live_site):
    page = signed_in
    found = {}
    found["home"] = violations(page)
    open_demo_agent(page, live_site)
    send(page, "Accessible reply")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    found["chat"] = violations(page)
    page.emulate_media(color_scheme="dark")
    page.wait_for_timeout(300)  # the colour transitions end
    found["chat, dark"] = violations(page)
    page.emulate_media(color_scheme="light")
    page.wait_for_timeout(300)
    page.locator(LAST_REPLY).get_by_role("button", name="Good reply").click()
    found["feedback form"] = violations(page)
    page.locator(".conv-item-menu").first.click()
    found["sidebar menu"] = violations(page)
    page.keyboard.press("Escape")
    page.get_by_label("New chat with an agent").click()
    found["agent picker"] = violations(page)
    page.keyboard.press("Escape")
    page.get_by_placeholder("Search conversations").press_sequentially("accessible", delay=20)
    expect(page.locator("#search-results .search-hit").first).to_be_visible()
    found["live search"] = violations(page)
    page.get_by_label("Conversation options").click()
    page.get_by_role("menuitem", name="Share…").click()
    found["share dialog"] = violations(page)
    page.locator("#share-dialog").get_by_role("button", name="Create link").click()
    link = page.locator("#share-dialog .share-link-url:focus")
    expect(link).to_be_visible()
    found["share dialog with a link"] = violations(page)
    page.goto(link.input_value())
    found["share page"] = violations(page)
    page.goto(f"{live_site.url}/archived/")
    found["archived"] = violations(page)
    assert {state: v for state, v in found.items() if v} == {}
