"""A person signs in through the company's identity provider's own page and chats."""

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

OFF_MACHINE = re.compile(r"^https?://(?!127\.0\.0\.1[:/]|localhost[:/])")


def test_a_member_signs_in_through_the_provider_and_chats(browser, live_site, oidc_provider):
    httpx.put(
        f"{oidc_provider.url}/users/sso-browser-1",
        json={"email": "frank@example.com", "preferred_username": "frank", "groups": ["Research"]},
    ).raise_for_status()
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.route(OFF_MACHINE, lambda route: route.abort())  # the provider's page links a CDN stylesheet
    page = context.new_page()
    page.set_default_timeout(15_000)

    page.goto(f"{live_site.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    screenshot(page, "sso-sign-in-page")
    page.get_by_role("link", name="Sign in with Example SSO").click()

    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    page.get_by_placeholder("sub").fill("sso-browser-1")
    page.get_by_role("button", name="Authorize").click()

    page.wait_for_url(f"{live_site.url}/")
    page.get_by_role("link", name="SketricGen demo").click()
    page.wait_for_url("**/agents/sketricgen-demo/new/")
    box = page.locator("#composer-input")
    box.fill("Hello from single sign-on")
    box.press("Enter")
    reply = page.locator("article.msg-assistant >> nth=-1")
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(page.locator("article.msg-user .bubble")).to_contain_text("Hello from single sign-on")

    screenshot(page, "sso-chatting")
    page.locator("details.user-menu summary").click()
    expect(page.locator("details.user-menu")).to_contain_text("frank")
    page.get_by_role("menuitem", name="Log out").click()
    expect(page.get_by_role("heading", name="End Session")).to_be_visible()
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{live_site.url}/accounts/login/")
    page.goto(f"{live_site.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    context.close()
