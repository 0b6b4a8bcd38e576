"""Requests for decisions in Chromium: answered once, closed by a new message, never controls for viewers."""

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import expect_socket_open, screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send
from tests.browser.test_sharing import bob_password, new_page, share_link, start_conversation

pytestmark = pytest.mark.browser

__all__ = ["bob_password"]  # a fixture of the sharing tests, used here too

PAUSED_REPLY = 'article.msg-assistant[data-status="paused"]'
# A reply's open (last) request for decisions, after its text; and the ones it went on after, before theirs.
OPEN_REQUEST = ".msg-main > .approval"
DECIDED = ".msg-parts > .approval"


def reading_order(reply) -> list[str]:
    """What a reader sees of the reply, top to bottom: "text" and "decisions" boxes."""
    return reply.evaluate(
        """(reply) => [...reply.querySelectorAll(
             '.msg-parts > .md, .msg-parts > .approval, .msg-body > .md, .msg-main > .approval')]
           .filter((element) => element.checkVisibility() && element.textContent.trim() !== '')
           .map((element) => element.classList.contains('approval') ? 'decisions' : 'text')"""
    )


def expect_reading_order(reply, order: list[str], seconds: float = 10) -> None:
    """The reply reads as `order` (see `reading_order`) within `seconds`: a page settles after a frame."""
    deadline = time.monotonic() + seconds
    while (seen := reading_order(reply)) != order and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == order


def choose_and_send(panel) -> None:
    first, second = panel.locator(".approval-action").all()
    first.get_by_label("Approve").check()
    second.get_by_label("Reject").check()
    panel.get_by_role("button", name="Send decisions").click()


def test_a_new_message_turns_every_open_panel_read_only(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Mail the team [[hitl]] [[delay=0.01]]")
    panel = page.locator(PAUSED_REPLY).locator(OPEN_REQUEST)
    expect(panel).to_have_attribute("data-state", "pending")
    other_tab = page.context.new_page()
    other_tab.goto(page.url)
    other_panel = other_tab.locator(PAUSED_REPLY).locator(OPEN_REQUEST)
    expect(other_panel).to_have_attribute("data-state", "pending")
    expect_socket_open(other_tab)

    send(page, "Never mind, tell me a joke instead [[delay=0.01]]")
    for shown in (panel, other_panel):
        expect(shown).to_have_attribute("data-state", "replaced")
        expect(shown.locator(".approval-title")).to_contain_text("a newer message replaced this request")
        expect(shown.locator("input, textarea, button")).to_have_count(0)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    screenshot(page, "approval-replaced")
    other_tab.reload()
    expect(other_tab.locator(PAUSED_REPLY).locator(OPEN_REQUEST)).to_have_attribute("data-state", "replaced")
    other_tab.close()


def test_a_decision_sent_in_one_tab_closes_the_panel_in_the_other(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Mail the team [[hitl]] [[delay=0.01]]")
    expect(page.locator(PAUSED_REPLY).locator(OPEN_REQUEST)).to_have_attribute("data-state", "pending")
    other_tab = page.context.new_page()
    other_tab.goto(page.url)
    other_panel = other_tab.locator(LAST_REPLY).locator(OPEN_REQUEST)
    expect(other_panel).to_have_attribute("data-state", "pending")
    expect_socket_open(other_tab)

    choose_and_send(page.locator(LAST_REPLY).locator(OPEN_REQUEST))
    # Answered: the decisions stand before the text they produce.
    decided = other_tab.locator(LAST_REPLY).locator(DECIDED)
    expect(decided).to_have_attribute("data-state", "resolved")
    expect(decided.locator(".approval-decision")).to_have_text(["approved", "rejected"])
    controls = other_tab.locator(LAST_REPLY).locator(".approval :is(input, textarea, button)")
    expect(controls).to_have_count(0)
    expect(other_panel).to_be_hidden()
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    # The text the decisions produced starts a paragraph of its own.
    paragraphs = reply.locator(".md > p").all_inner_texts()
    assert sum(p.startswith("This is a simulated") for p in paragraphs) == 2, paragraphs
    other_tab.close()


def test_a_live_viewer_sees_the_request_and_its_outcome_but_no_controls(
    signed_in, browser, live_site, bob_password
):
    page = signed_in
    start_conversation(page, live_site, "Plan the launch mail")
    url = share_link(page, live=True)
    context, bob = new_page(browser)
    try:
        bob.goto(url)
        bob.get_by_label("Username").fill("bob")
        bob.get_by_label("Password").fill(bob_password)
        bob.get_by_role("button", name="Sign in").click()
        bob.wait_for_url(url)
        expect(bob.locator("#live-status")).to_have_attribute("data-state", "open")

        send(page, "Mail the team [[hitl]] [[delay=0.01]]")
        viewer_panel = bob.locator(LAST_REPLY).locator(OPEN_REQUEST)
        expect(viewer_panel).to_have_attribute("data-state", "waiting")
        expect(viewer_panel.locator(".approval-title")).to_contain_text("waiting for the owner's decision")
        expect(viewer_panel.locator(".approval-name")).to_have_text(["send_email", "create_ticket"])
        expect(viewer_panel.locator("input, textarea, button")).to_have_count(0)
        screenshot(bob, "approval-live-viewer")

        choose_and_send(page.locator(LAST_REPLY).locator(OPEN_REQUEST))
        decided = bob.locator(LAST_REPLY).locator(DECIDED)
        expect(decided).to_have_attribute("data-state", "resolved")
        expect(decided.locator(".approval-decision")).to_have_text(["approved", "rejected"])
        expect(bob.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
        expect_reading_order(bob.locator(LAST_REPLY), ["text", "decisions", "text"])
        bob.reload()
        expect(bob.locator(LAST_REPLY).locator(DECIDED)).to_have_attribute("data-state", "resolved")
        expect_reading_order(bob.locator(LAST_REPLY), ["text", "decisions", "text"])
        expect(bob.locator(".approval input, .approval button")).to_have_count(0)
    finally:
        context.close()
