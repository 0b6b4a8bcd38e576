"""Feedback in Chromium: thumbs and a comment on a reply, kept across a reload, listed in the admin."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser


def test_feedback_on_a_reply_is_saved_changeable_and_listed_in_the_admin(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Rate this reply about otters")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")

    reply.get_by_role("button", name="Good reply").click()
    expect(reply.get_by_role("button", name="Good reply")).to_have_attribute("aria-pressed", "true")
    comment = reply.get_by_label("What made this reply good or bad? (optional)")
    expect(comment).to_be_focused()
    comment.fill("Clear, but it forgot the sea otters.")
    reply.get_by_role("button", name="Save comment").click()
    expect(reply.locator(".feedback-status")).to_have_text("Comment saved.")
    screenshot(page, "feedback-desktop")
    # Changing one's mind keeps the comment.
    reply.get_by_role("button", name="Bad reply").click()
    expect(reply.get_by_role("button", name="Bad reply")).to_have_attribute("aria-pressed", "true")
    expect(reply.get_by_role("button", name="Good reply")).to_have_attribute("aria-pressed", "false")

    page.reload()
    reply = page.locator(LAST_REPLY)
    expect(reply.get_by_role("button", name="Bad reply")).to_have_attribute("aria-pressed", "true")
    reply.get_by_role("button", name="Bad reply").click()
    expect(reply.get_by_label("What made this reply good or bad? (optional)")).to_have_value(
        "Clear, but it forgot the sea otters."
    )
    page.set_viewport_size({"width": 390, "height": 800})
    screenshot(page, "feedback-phone")
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.wait_for_timeout(300)  # the colour transitions end
    screenshot(page, "feedback-dark")
    page.emulate_media(color_scheme="light")

    page.goto(f"{live_site.url}/admin/conversations/feedback/")
    row = page.locator("#result_list tbody tr").filter(has_text="Clear, but it forgot the sea otters.")
    expect(row).to_contain_text("👎 Down")
    expect(row).to_contain_text("SketricGen demo")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert "Clear, but it forgot the sea otters." in download.value.path().read_text()
    page.goto(f"{live_site.url}/admin/agents/agent/")
    demo_agent = page.get_by_role("link", name="SketricGen demo", exact=True)
    expect(page.locator("#result_list tbody tr", has=demo_agent)).to_contain_text("👎 1")
    screenshot(page, "feedback-admin-agents")
