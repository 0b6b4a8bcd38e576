"""A real site (Daphne, demo fakes mounted) in a subprocess, and Debian's Chromium driven by Playwright."""

import asyncio
import os
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.site_process import SiteProcess, running_site

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("CHATSITE_SCREENSHOTS", "/tmp/chatsite-screenshots"))

# What a page waits for (a reply of a few seconds, a page the site serves while other workers load
# the machine) may take longer than Playwright's 5 s: assertions wait as long as actions (15 s).
expect.set_options(timeout=15_000)


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CHATSITE_REQUIRE_BROWSER"):
        raise pytest.UsageError(f"CHATSITE_REQUIRE_BROWSER is set but {CHROMIUM} is missing.")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def live_site(tmp_path_factory, oidc_provider):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with running_site(
        tmp_path_factory.mktemp("site"),
        "chatsite_browser",
        # The test settings' fast password hasher: every browser test signs in.
        DJANGO_SETTINGS_MODULE="tests.settings",
        REPLY_CHECKPOINT_SECONDS="0.5",
        # Every browser test chats as the demo user, faster than a person would.
        CHATSITE_MESSAGES_PER_MINUTE="1000",
        OIDC_ISSUER=oidc_provider.url,
        OIDC_CLIENT_ID="chatsite-browser-tests",
        OIDC_CLIENT_SECRET=secrets.token_urlsafe(16),
        OIDC_PROVIDER_NAME="Example SSO",
        OIDC_GROUPS_CLAIM="groups",
    ) as site:
        yield site


@pytest.fixture(scope="session")
def browser(live_site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        playwright_loop = asyncio._get_running_loop()
        yield browser
        # The test that ran last, if not a browser test, took the mark away (tests/conftest.py).
        asyncio._set_running_loop(playwright_loop)
        browser.close()


@pytest.fixture
def signed_in(browser, live_site):
    """A page of a fresh browser context, signed in as the demo user."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_site)
    yield page
    context.close()


def sign_in(page, site: SiteProcess) -> None:
    page.goto(f"{site.url}/accounts/login/")
    page.get_by_label("Username").fill(site.username)
    page.get_by_label("Password").fill(site.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/")


def expect_socket_open(page) -> None:
    """The page's websocket is open: what happens in another tab from now on reaches it live (a
    message sent before then shows at a reload)."""
    expect(page.locator("#connection")).to_have_attribute("data-socket", "open")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
