"""The keyboard in Chromium: shortcuts, the `?` list, and focus going back to what opened a dialog."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser


def test_shortcuts_and_the_question_mark_list(signed_in, live_site):
    page = signed_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_site.url)
    open_demo_agent(page, live_site)
    send(page, "Keyboard question")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")

    page.locator(".topbar-title").click()  # away from the message box
    page.keyboard.press("?")
    dialog = page.locator("#shortcuts-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Copy the last reply")
    screenshot(page, "keyboard-shortcuts")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.keyboard.press("/")
    expect(page.locator("#composer-input")).to_be_focused()
    page.keyboard.press("ControlOrMeta+k")
    expect(page.locator("#sidebar-search-input")).to_be_focused()
    page.keyboard.press("ControlOrMeta+Shift+Semicolon")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("This is a simulated SketricGen agent")

    options = page.get_by_label("Conversation options")
    options.click()
    page.get_by_role("menuitem", name="Share…").click()
    expect(page.locator("#share-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(options).to_be_focused()

    page.keyboard.press("ControlOrMeta+Shift+o")
    page.wait_for_url(f"{live_site.url}/")
