"""Organising in Chromium: the sidebar's ⋯ menu (keyboard too), pin, archive and restore, live search."""

import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser


def new_chat(page, site, text: str) -> None:
    open_demo_agent(page, site)
    send(page, text)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")


def item(page, title: str):
    return page.locator("#conversation-list .conv-item", has=page.locator(".conv-link", has_text=title))


def test_pin_archive_restore_and_rename_from_the_sidebar_menu(signed_in, live_site):
    page = signed_in
    word = secrets.token_hex(3)
    walrus, puffin = f"Walrus notes {word}", f"Puffin notes {word}"
    new_chat(page, live_site, walrus)
    new_chat(page, live_site, puffin)
    expect(item(page, walrus).locator(".avatar")).to_have_attribute("data-initial", "S")

    menu_button = item(page, walrus).get_by_role("button", name=f"Options for {walrus}")
    menu_button.click()
    menu = page.locator("#conv-item-actions")
    expect(menu.get_by_role("menuitem", name="Rename")).to_be_focused()
    screenshot(page, "sidebar-item-menu")
    page.keyboard.press("ArrowUp")
    expect(menu.get_by_role("menuitem", name="Delete…")).to_be_focused()
    page.keyboard.press("Home")
    expect(menu.get_by_role("menuitem", name="Rename")).to_be_focused()
    page.keyboard.press("End")
    expect(menu.get_by_role("menuitem", name="Delete…")).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(menu_button).to_be_focused()

    menu_button.click()
    menu.get_by_role("menuitem", name="Pin").click()
    pinned = page.locator('.conv-group[data-group="pinned"]')
    expect(pinned.locator(".conv-link-title")).to_have_text([walrus])
    # The current conversation stays marked after the list is redrawn.
    expect(page.locator('.conv-link[aria-current="page"]')).to_have_text(puffin)

    item(page, puffin).get_by_role("button", name=f"Options for {puffin}").click()
    menu.get_by_role("menuitem", name="Archive").click()
    expect(item(page, puffin)).to_have_count(0)

    page.reload()
    expect(pinned.locator(".conv-link-title")).to_have_text([walrus])
    expect(item(page, puffin)).to_have_count(0)
    page.get_by_role("link", name="Archived conversations").first.click()
    page.get_by_role("button", name=f"Restore {puffin}").click()
    expect(page.get_by_text("is back in your conversations")).to_be_visible()
    expect(item(page, puffin)).to_have_count(1)
    page.wait_for_load_state()  # the page the restore led to: its menus work once its scripts ran

    item(page, walrus).get_by_role("button", name=f"Options for {walrus}").click()
    menu.get_by_role("menuitem", name="Rename").click()
    dialog = page.locator("#item-rename-dialog")
    dialog.get_by_label("Title").fill(f"Walruses {word}")
    dialog.get_by_role("button", name="Rename").click()
    expect(dialog).to_be_hidden()
    expect(pinned.locator(".conv-link-title")).to_have_text([f"Walruses {word}"])
    page.reload()
    expect(pinned.locator(".conv-link-title")).to_have_text([f"Walruses {word}"])

    page.emulate_media(color_scheme="dark")
    page.wait_for_timeout(300)
    screenshot(page, "sidebar-pinned-dark")
    page.emulate_media(color_scheme="light")

    # Unpinned, it goes back among the others (and leaves the site's list as other tests expect it).
    item(page, f"Walruses {word}").get_by_role("button", name=f"Options for Walruses {word}").click()
    menu.get_by_role("menuitem", name="Unpin").click()
    expect(pinned).to_have_count(0)
    expect(item(page, f"Walruses {word}")).to_have_count(1)


def test_search_as_you_type_marks_the_words_and_finds_archived_conversations(signed_in, live_site):
    page = signed_in
    word = secrets.token_hex(3)
    new_chat(page, live_site, f"Tell me about **narwhal** tusks {word}")
    title = f"Tell me about **narwhal** tusks {word}"
    item(page, word).get_by_role("button", name=f"Options for {title}").click()
    page.locator("#conv-item-actions").get_by_role("menuitem", name="Archive").click()
    expect(item(page, word)).to_have_count(0)

    box = page.get_by_placeholder("Search conversations")
    box.press_sequentially("narwhal tusks", delay=30)  # typing, not submitting
    results = page.locator("#search-results")
    hit = results.locator(".search-hit").first
    expect(hit).to_contain_text("Archived")
    expect(hit.locator("mark").first).to_have_text("narwhal")
    snippet = hit.locator(".search-hit-snippet")
    expect(snippet).to_contain_text("narwhal tusks")
    assert "**" not in snippet.inner_text()
    assert page.url.endswith("/") and "/search/" not in page.url  # no page load
    screenshot(page, "sidebar-live-search")
    page.set_viewport_size({"width": 390, "height": 800})
    page.get_by_role("button", name="Open sidebar").click()
    page.wait_for_timeout(400)  # the sidebar slides in
    screenshot(page, "sidebar-live-search-phone")
    page.get_by_role("button", name="Close sidebar").click()
    page.set_viewport_size({"width": 1280, "height": 860})

    box.press("Escape")
    expect(results).to_be_hidden()
    expect(page.locator("#conversation-list")).to_be_visible()
    box.fill(word)
    hit.click()
    page.wait_for_url("**/c/**?message=*")
    expect(page.locator("article.msg-user").first).to_contain_text("narwhal")
