"""An accessibility scan (axe-core) of the pages this issue changed, in each state a member meets."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser

SERIOUS = ("serious", "critical")


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


def test_no_serious_violation_on_the_chat_and_its_menus_and_dialogs(signed_in, live_site):
    page = signed_in
    found = {}
    found["home"] = serious_violations(page)
    open_demo_agent(page, live_site)
    send(page, "Accessible reply")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    found["chat"] = serious_violations(page)
    page.emulate_media(color_scheme="dark")
    page.wait_for_timeout(300)  # the colour transitions end
    found["chat, dark"] = serious_violations(page)
    page.emulate_media(color_scheme="light")
    page.wait_for_timeout(300)
    page.locator(LAST_REPLY).get_by_role("button", name="Good reply").click()
    found["feedback form"] = serious_violations(page)
    page.locator(".conv-item-menu").first.click()
    found["sidebar menu"] = serious_violations(page)
    page.keyboard.press("Escape")
    page.get_by_label("New chat with an agent").click()
    found["agent picker"] = serious_violations(page)
    page.keyboard.press("Escape")
    page.get_by_placeholder("Search conversations").press_sequentially("accessible", delay=20)
    expect(page.locator("#search-results .search-hit").first).to_be_visible()
    found["live search"] = serious_violations(page)
    page.get_by_label("Conversation options").click()
    page.get_by_role("menuitem", name="Share…").click()
    found["share dialog"] = serious_violations(page)
    page.locator("#share-dialog").get_by_role("button", name="Create link").click()
    link = page.locator("#share-dialog .share-link-url:focus")
    expect(link).to_be_visible()
    found["share dialog with a link"] = serious_violations(page)
    page.goto(link.input_value())
    found["share page"] = serious_violations(page)
    page.goto(f"{live_site.url}/archived/")
    found["archived"] = serious_violations(page)
    assert {state: v for state, v in found.items() if v} == {}
