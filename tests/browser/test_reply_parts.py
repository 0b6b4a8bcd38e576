"""In Chromium: the decisions stand before the text they produced, live, after a reload and shared."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_approval_panels import DECIDED, OPEN_REQUEST, choose_and_send, expect_reading_order
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send
from tests.browser.test_sharing import share_link

pytestmark = pytest.mark.browser

# The first block of the text after the last decisions.
AFTER_FIRST_BLOCK = ".msg-body > .md:not(.tail) > :first-child"


def expect_parts(page, order: list[str], decisions: list[list[str]]) -> None:
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    expect_reading_order(reply, order)
    boxes = reply.locator(DECIDED)
    expect(boxes).to_have_count(len(decisions))
    for box, said in zip(boxes.all(), decisions, strict=True):
        expect(box).to_have_attribute("data-state", "resolved")
        expect(box.locator(".approval-decision")).to_have_text(said)
    # The text the last decisions produced starts a paragraph of its own.
    expect(reply.locator(AFTER_FIRST_BLOCK)).to_have_text(re.compile(r"^This is a simulated SketricGen"))


def test_the_decisions_stand_before_the_text_they_produced_live_after_reload_and_shared(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Mail the team [[hitl]] [[delay=0.01]]")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "paused")
    expect_reading_order(reply, ["text", "decisions"])

    choose_and_send(reply.locator(OPEN_REQUEST))
    order, decisions = ["text", "decisions", "text"], [["approved", "rejected"]]
    expect_parts(page, order, decisions)
    expect(reply.locator(OPEN_REQUEST)).to_be_hidden()
    reply.locator(DECIDED).evaluate("(box) => box.scrollIntoView({block: 'center'})")
    screenshot(page, "reply-parts-desktop")

    page.reload()
    expect_parts(page, order, decisions)
    page.goto(share_link(page, public=True))
    expect_parts(page, order, decisions)


def test_a_reply_that_pauses_twice_shows_text_decisions_text_decisions_text(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Mail the team [[hitl=2]] [[delay=0.01]]")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "paused")
    choose_and_send(reply.locator(OPEN_REQUEST))
    expect(reply.locator(DECIDED)).to_have_count(1)
    expect(reply.locator(OPEN_REQUEST).get_by_role("button", name="Send decisions")).to_be_visible()
    expect_reading_order(reply, ["text", "decisions", "text", "decisions"])
    choose_and_send(reply.locator(OPEN_REQUEST))

    order = ["text", "decisions", "text", "decisions", "text"]
    decisions = [["approved", "rejected"], ["approved", "rejected"]]
    expect_parts(page, order, decisions)
    page.reload()
    expect_parts(page, order, decisions)

    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.locator(LAST_REPLY).locator(DECIDED).last.evaluate("(box) => box.scrollIntoView({block: 'center'})")
    screenshot(page, "reply-parts-phone-dark")
