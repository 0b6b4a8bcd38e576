"""Versions in Chromium: regenerate twice, switch, reload, share; edit, switch back; Esc cancels an edit."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import expect_socket_open, screenshot
from tests.browser.test_accessibility import violations
from tests.browser.test_chat import LAST_REPLY
from tests.browser.test_sharing import (
    bob_password,  # noqa: F401 (a fixture, asked for by name)
    new_page,
    share_link,
    sign_in_as,
    start_conversation,
)

pytestmark = pytest.mark.browser

# The demo platform numbers the turns it has seen in this conversation: each version says which it was.
TURN = "This is turn {} of this conversation"


def versions_of(message):
    return message.locator(".versions")


def regenerate(page) -> None:
    reply = page.locator(LAST_REPLY)
    old = reply.get_attribute("data-message-id")
    reply.hover()
    reply.get_by_role("button", name="Regenerate").click()
    expect(page.locator(LAST_REPLY)).not_to_have_attribute("data-message-id", old)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")


def test_regenerate_twice_switch_reload_and_share_the_chosen_version(signed_in, live_site):
    page = signed_in
    start_conversation(page, live_site, "Tell me about lighthouses")
    expect(page.locator(LAST_REPLY)).to_contain_text(TURN.format(1))
    regenerate(page)
    expect(versions_of(page.locator(LAST_REPLY))).to_have_accessible_name("Version 2 of 2")
    regenerate(page)
    reply = page.locator(LAST_REPLY)
    expect(reply).to_contain_text(TURN.format(3))
    expect(reply.get_by_role("group", name="Version 3 of 3")).to_be_visible()
    expect(reply.locator(".version-note")).to_have_text(
        "The agent also remembers its other versions of this reply."
    )
    expect(reply.get_by_role("button", name="Next version")).to_be_disabled()

    reply.get_by_role("button", name="Previous version").click()
    expect(page.locator(LAST_REPLY).get_by_role("group", name="Version 2 of 3")).to_be_visible()
    expect(page.locator(LAST_REPLY)).to_contain_text(TURN.format(2))
    # The keyboard: focus stays on the arrow used, Enter goes on.
    expect(page.locator(LAST_REPLY).get_by_role("button", name="Previous version")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(LAST_REPLY).get_by_role("group", name="Version 1 of 3")).to_be_visible()
    expect(page.locator(LAST_REPLY)).to_contain_text(TURN.format(1))
    expect(page.locator(LAST_REPLY).get_by_role("button", name="Next version")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(LAST_REPLY).get_by_role("group", name="Version 2 of 3")).to_be_visible()
    expect(page.locator("article.msg-assistant")).to_have_count(1)
    screenshot(page, "versions-reply-desktop")

    page.reload()
    expect(page.locator(LAST_REPLY).get_by_role("group", name="Version 2 of 3")).to_be_visible()
    expect(page.locator(LAST_REPLY)).to_contain_text(TURN.format(2))

    url = share_link(page)
    page.goto(url)
    expect(page.locator("article.msg-assistant")).to_have_count(1)
    expect(page.locator("article.msg-assistant")).to_contain_text(TURN.format(2))
    expect(page.locator(".versions")).to_have_count(0)


def test_edit_then_switch_back_to_the_earlier_message_and_its_reply(signed_in, live_site, browser):
    page = signed_in
    start_conversation(page, live_site, "Name a bird")
    question = page.locator("article.msg-user").last
    question.hover()
    question.get_by_role("button", name="Edit").click()
    expect(page.locator("#editing")).to_be_visible()
    page.locator("#composer-input").press("Escape")
    expect(page.locator("#editing")).to_be_hidden()
    expect(page.locator("#composer-input")).to_have_value("")

    question.hover()
    question.get_by_role("button", name="Edit").click()
    page.locator("#composer-input").fill("Name a sea bird")
    page.locator("#composer-input").press("Enter")
    expect(page.locator(LAST_REPLY)).to_contain_text(TURN.format(2))
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    edited = page.locator("article.msg-user").last
    expect(edited.locator(".bubble")).to_have_text("Name a sea bird")
    expect(edited.get_by_role("group", name="Version 2 of 2")).to_be_visible()
    expect(edited.locator(".version-note")).to_have_text("The agent also saw your earlier version.")
    # The first message gave the conversation its title, and the edit takes it along.
    expect(page.locator('.conv-link[aria-current="page"]')).to_have_text("Name a sea bird")
    expect(page.locator("#conv-title")).to_have_text("Name a sea bird")

    edited.get_by_role("button", name="Previous version").click()
    earlier = page.locator("article.msg-user").last
    expect(earlier.get_by_role("group", name="Version 1 of 2")).to_be_visible()
    expect(earlier.locator(".bubble")).to_have_text("Name a bird")
    expect(earlier.locator(".version-note")).to_have_text("The agent also saw your later version.")
    expect(page.locator(LAST_REPLY)).to_contain_text(TURN.format(1))
    expect(page.locator('.conv-link[aria-current="page"]')).to_have_text("Name a bird")
    screenshot(page, "versions-edited-desktop")

    page.reload()
    expect(page.locator("article.msg-user .bubble")).to_have_text(["Name a bird"])
    expect(page.locator(LAST_REPLY)).to_contain_text(TURN.format(1))
    assert violations(page) == [], "the switcher and its note pass the accessibility scan"
    page.set_viewport_size({"width": 390, "height": 800})
    screenshot(page, "versions-phone")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "versions-phone-dark")
    page.set_viewport_size({"width": 1280, "height": 860})
    screenshot(page, "versions-desktop-dark")
    assert violations(page) == []
    page.emulate_media(color_scheme="light")


def test_a_teammate_watching_a_live_link_sees_the_edited_message_and_its_new_reply(
    signed_in, browser, live_site, request
):
    page = signed_in
    start_conversation(page, live_site, "Plan a picnic")
    url = share_link(page, live=True)
    context, bob = new_page(browser)
    try:
        sign_in_as(bob, live_site, "bob", request.getfixturevalue("bob_password"))
        bob.goto(url)
        expect(bob.locator("#live-status")).to_have_attribute("data-state", "open")

        question = page.locator("article.msg-user").last
        question.hover()
        question.get_by_role("button", name="Edit").click()
        page.locator("#composer-input").fill("Plan a picnic by the sea")
        page.locator("#composer-input").press("Enter")
        expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")

        expect(bob.locator("article.msg-user .bubble")).to_have_text(["Plan a picnic by the sea"])
        expect(bob.locator(LAST_REPLY)).to_contain_text(TURN.format(2))
        expect(bob.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
        expect(bob.locator(".versions")).to_have_count(0)
    finally:
        context.close()


def test_a_version_switched_in_one_tab_shows_in_the_other_tab_and_to_a_live_viewer(
    signed_in, browser, live_site, request
):
    page = signed_in
    start_conversation(page, live_site, "Describe a harbour")
    regenerate(page)
    expect(page.locator(LAST_REPLY)).to_contain_text(TURN.format(2))
    url = share_link(page, live=True)
    other_tab = page.context.new_page()
    other_tab.goto(page.url)
    expect(other_tab.locator(LAST_REPLY)).to_contain_text(TURN.format(2))
    context, bob = new_page(browser)
    try:
        sign_in_as(bob, live_site, "bob", request.getfixturevalue("bob_password"))
        bob.goto(url)
        expect(bob.locator("#live-status")).to_have_attribute("data-state", "open")
        expect(bob.locator(LAST_REPLY)).to_contain_text(TURN.format(2))
        expect_socket_open(other_tab)
        other_tab.evaluate("window.notReloaded = true")
        bob.evaluate("window.notReloaded = true")

        page.locator(LAST_REPLY).get_by_role("button", name="Previous version").click()
        expect(page.locator(LAST_REPLY)).to_contain_text(TURN.format(1))

        expect(other_tab.locator(LAST_REPLY)).to_contain_text(TURN.format(1))
        expect(other_tab.locator(LAST_REPLY).get_by_role("group", name="Version 1 of 2")).to_be_visible()
        expect(other_tab.locator("article.msg-assistant")).to_have_count(1)
        expect(bob.locator(LAST_REPLY)).to_contain_text(TURN.format(1))
        expect(bob.locator("article.msg-assistant")).to_have_count(1)
        assert other_tab.evaluate("window.notReloaded") and bob.evaluate("window.notReloaded")
        screenshot(other_tab, "versions-switched-in-another-tab")
    finally:
        context.close()
        other_tab.close()
