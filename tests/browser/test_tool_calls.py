"""Tool calls in Chromium: a compact row that opens, with the mouse or the keyboard, to what was called."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send
from tests.browser.test_sharing import share_link

pytestmark = pytest.mark.browser


def test_a_tool_call_opens_with_the_keyboard_to_its_arguments_and_result(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Look it up [[tool]] [[camel]] [[words=12]] [[delay=0.01]]")
    chip = page.locator(LAST_REPLY).locator("li.tool-chip")
    expect(chip).to_have_attribute("data-status", "done")
    arguments = chip.locator(".tool-arguments")
    expect(arguments).not_to_be_visible()

    chip.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(arguments).to_be_visible()
    expect(arguments).to_contain_text('"query": "server-sent events AG-UI"')
    expect(chip.locator(".tool-result")).to_contain_text('"title": "AG-UI protocol: events"')
    screenshot(page, "tool-call-open")
    page.keyboard.press("Enter")
    expect(arguments).not_to_be_visible()

    page.reload()  # history shows the same, from what was saved
    chip = page.locator(LAST_REPLY).locator("li.tool-chip")
    chip.locator("summary").click()
    expect(chip.locator(".tool-arguments")).to_contain_text('"max_results": 3')
    expect(chip.locator(".tool-result")).to_contain_text("AG-UI protocol: events")


def test_a_tool_call_opened_while_the_reply_streams_stays_open_when_it_ends(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Look it up [[tool]] [[camel]] [[words=40]] [[delay=0.05]]")
    reply = page.locator(LAST_REPLY)
    chip = reply.locator("li.tool-chip")
    expect(chip).to_have_attribute("data-status", "done")
    expect(reply).to_have_attribute("data-status", "streaming")
    chip.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(chip.locator(".tool-arguments")).to_be_visible()

    expect(reply).to_have_attribute("data-status", "complete", timeout=15_000)
    expect(chip.locator(".tool-arguments")).to_be_visible()
    page.keyboard.press("Enter")  # the focus stayed on the call: Enter closes it
    expect(chip.locator(".tool-arguments")).not_to_be_visible()


def expect_folded_until_shown_all(page, screenshot_name: str = "") -> None:
    chip = page.locator(LAST_REPLY).locator("li.tool-chip")
    chip.locator("summary").click()
    result = chip.locator(".tool-result")
    expect(result).to_have_attribute("data-folded", "")
    assert result.evaluate("(block) => block.scrollHeight > block.clientHeight"), "the long result is folded"
    expect(chip.locator(".tool-arguments + .tool-show-all")).to_be_hidden()  # a short value is not folded

    show_all = chip.get_by_role("button", name="Show all")
    show_all.focus()
    if screenshot_name:
        show_all.evaluate("(shown) => shown.scrollIntoView({block: 'center'})")
        screenshot(page, screenshot_name)
    page.keyboard.press("Enter")
    expect(result).not_to_have_attribute("data-folded", "")
    show_less = chip.get_by_role("button", name="Show less")
    expect(show_less).to_be_focused()
    expect(show_less).to_have_attribute("aria-expanded", "true")
    assert result.evaluate("(block) => block.scrollHeight <= block.clientHeight"), "the whole result shows"
    expect(result).to_contain_text('"title": "Using server-sent events"')


def test_a_long_result_is_folded_and_show_all_unfolds_it_live_after_reload_and_shared(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Look it up [[tool]] [[camel]] [[words=12]] [[delay=0.01]]")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    expect_folded_until_shown_all(page, "tool-call-folded")
    screenshot(page, "tool-call-show-all")

    page.reload()
    expect_folded_until_shown_all(page)
    url = share_link(page, public=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.goto(url)
    expect_folded_until_shown_all(page, "tool-call-folded-shared-phone-dark")
