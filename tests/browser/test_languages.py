"""A person who reads German: the browser's language by default, a choice in the user menu, German chat."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser

LAST_REPLY = "article.msg-assistant >> nth=-1"


def test_a_german_browser_gets_the_sign_in_page_in_german(browser, live_site):
    context = browser.new_context(locale="de-DE")
    page = context.new_page()
    page.goto(f"{live_site.url}/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    page.get_by_label("Benutzername").fill(live_site.username)
    page.get_by_label("Passwort").fill(live_site.password)
    page.get_by_role("button", name="Anmelden", exact=True).click()
    page.wait_for_url(f"{live_site.url}/")
    expect(page.get_by_role("heading", name="Mit wem möchten Sie sprechen?")).to_be_visible()
    context.close()


def test_choosing_german_in_the_menu_gives_a_german_chat(browser, live_site):
    # An English browser: the person chooses German themselves.
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_site)
    page.locator(".user-button").click()
    page.get_by_role("button", name="Deutsch").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Mit wem möchten Sie sprechen?")).to_be_visible()

    page.get_by_role("link", name="SketricGen demo").first.click()
    page.wait_for_url("**/agents/sketricgen-demo/new/")
    box = page.get_by_label("Nachricht an SketricGen demo")
    box.fill("Hallo, wie geht es? [[tool]]")
    box.press("Enter")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".msg-body")).not_to_be_empty()
    # The scripts speak German too: the send button, the tool chip, the new sidebar section.
    expect(page.locator("#send-btn")).to_have_attribute("aria-label", "Nachricht senden")
    expect(reply.locator(".tool-state")).to_have_text("fertig")
    expect(page.locator("#conversation-list .conv-group-label").first).to_have_text("Heute")
    # Times and dates as German writes them: 24-hour time, day.month.year.
    time_shown = reply.locator("time.msg-time")
    expect(time_shown).to_have_text(re.compile(r"^\d{1,2}:\d{2}$"))  # 9:05 or 09:05, never AM/PM
    expect(time_shown).to_have_attribute("title", re.compile(r"^\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}$"))
    expect(page.get_by_text("Eingabe zum Senden")).to_be_visible()
    screenshot(page, "german-chat-desktop")

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("button", name="Seitenleiste öffnen")).to_be_visible()
    screenshot(page, "german-chat-phone")
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.locator(".user-button").click()
    expect(page.get_by_role("button", name="Deutsch")).to_have_attribute("aria-pressed", "true")
    screenshot(page, "german-chat-dark-menu")
    context.close()


def test_versions_and_the_credential_chooser_speak_german(browser, live_site):
    context = browser.new_context(locale="de-DE", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_site.url}/accounts/login/")
    page.get_by_label("Benutzername").fill(live_site.username)
    page.get_by_label("Passwort").fill(live_site.password)
    page.get_by_role("button", name="Anmelden", exact=True).click()
    page.wait_for_url(f"{live_site.url}/")
    page.get_by_role("link", name="SketricGen demo").first.click()
    page.wait_for_url("**/agents/sketricgen-demo/new/")
    box = page.get_by_label("Nachricht an SketricGen demo")
    box.fill("Erzählen Sie mir von Leuchttürmen")
    box.press("Enter")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    for _ in range(2):
        reply = page.locator(LAST_REPLY)
        old = reply.get_attribute("data-message-id")
        reply.hover()
        reply.get_by_role("button", name="Neu erzeugen").click()
        expect(page.locator(LAST_REPLY)).not_to_have_attribute("data-message-id", old)
        expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    # The switcher the script adds to a streamed reply, then the one the server renders.
    reply = page.locator(LAST_REPLY)
    expect(reply.get_by_role("group", name="Version 3 von 3")).to_be_visible()
    expect(reply.locator(".version-note")).to_have_text(
        "Der Agent erinnert sich auch an seine anderen Versionen dieser Antwort."
    )
    reply.get_by_role("button", name="Vorherige Version").click()
    expect(page.locator(LAST_REPLY).get_by_role("group", name="Version 2 von 3")).to_be_visible()
    expect(page.locator(LAST_REPLY).get_by_role("button", name="Nächste Version")).to_be_enabled()
    screenshot(page, "german-versions-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator(LAST_REPLY).locator(".versions").scroll_into_view_if_needed()
    screenshot(page, "german-versions-phone")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "german-versions-phone-dark")

    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(f"{live_site.url}/admin/agents/credential/add/")
    expect(page.get_by_text("Zu welcher Plattform gehört der Schlüssel?")).to_be_visible()
    expect(page.get_by_text("Sie geben die Adresse Ihres eigenen Servers ein.").first).to_be_visible()
    screenshot(page, "german-credential-chooser-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "german-credential-chooser-phone")
    context.close()
