"""Following a reply in Chromium: the view stays at the bottom, and what needs the reader is never missed."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser

IN_VIEW = """(element) => {
  const box = element.getBoundingClientRect();
  const view = document.getElementById("scroller").getBoundingClientRect();
  return box.top >= view.top - 1 && box.bottom <= view.bottom + 1;
}"""


def in_view(locator) -> bool:
    return locator.evaluate(IN_VIEW)


def test_an_approval_request_arriving_at_the_bottom_is_brought_into_view(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Fill the page [[words=200]] [[delay=0.002]]")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    send(page, "Mail the team [[hitl]] [[words=80]] [[delay=0.02]]")
    panel = page.locator(LAST_REPLY).locator(".approval")
    expect(panel).to_have_attribute("data-state", "pending")
    send_button = panel.get_by_role("button", name="Send decisions")
    expect(send_button).to_be_visible()
    page.wait_for_timeout(300)  # a frame or two for the view to settle
    assert in_view(send_button), "the request's Send button is in view"
    assert in_view(panel.locator(".approval-title")) or in_view(send_button)
    expect(page.locator("#jump")).to_be_hidden()
    screenshot(page, "follow-approval-in-view")


def test_a_reader_who_scrolled_up_is_told_an_approval_is_waiting_below(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Fill the page [[words=200]] [[delay=0.002]]")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    send(page, "Mail the team [[hitl]] [[words=300]] [[delay=0.02]]")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "streaming")
    page.locator("#scroller").hover()
    page.mouse.wheel(0, -600)
    jump = page.locator("#jump")
    expect(jump).to_be_visible()
    top = page.locator("#scroller").evaluate("(s) => s.scrollTop")

    expect(reply.locator(".approval")).to_have_attribute("data-state", "pending")
    expect(jump).to_contain_text("Approval needed")
    assert page.locator("#scroller").evaluate("(s) => s.scrollTop") == top, "the reader's place was kept"
    screenshot(page, "follow-approval-notice")
    jump.click()
    send_button = reply.locator(".approval").get_by_role("button", name="Send decisions")
    page.wait_for_timeout(800)  # the smooth scroll
    assert in_view(send_button)
    expect(jump).to_be_hidden()


def test_on_a_phone_in_dark_mode_the_notice_fits_and_the_live_block_is_formatted(browser, live_site):
    from tests.browser.conftest import sign_in

    context = browser.new_context(viewport={"width": 375, "height": 740}, color_scheme="dark")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, live_site)
        open_demo_agent(page, live_site)
        send(page, "Fill the page [[words=200]] [[delay=0.002]]")
        expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
        send(page, "Mail the team [[hitl]] [[words=300]] [[delay=0.03]]")
        reply = page.locator(LAST_REPLY)
        expect(reply.locator(".tail li, .tail .codeblock").first).to_be_attached()
        screenshot(page, "live-phone-dark")
        page.locator("#scroller").hover()
        page.mouse.wheel(0, -500)
        jump = page.locator("#jump")
        expect(jump).to_contain_text("Approval needed", timeout=20_000)
        box = jump.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375, box
        screenshot(page, "follow-approval-notice-phone-dark")
        jump.click()
        page.wait_for_timeout(800)
        assert in_view(reply.locator(".approval").get_by_role("button", name="Send decisions"))
        screenshot(page, "approval-phone-dark")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways ({width}px)"
    finally:
        context.close()
