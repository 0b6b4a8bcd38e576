"""A real site (Daphne, demo fakes mounted) in a subprocess, and Debian's Chromium driven by Playwright."""

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CHATSITE_REQUIRE_BROWSER"):
        raise pytest.UsageError(f"CHATSITE_REQUIRE_BROWSER is set but {CHROMIUM} is missing.")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_postgres_database(url: str, name: str) -> str:
    """A new empty database next to the one in `url`, for the site under test."""
    drop_postgres_database(url, name)
    with psycopg_connection(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def drop_postgres_database(url: str, name: str) -> None:
    with psycopg_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def psycopg_connection(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


@dataclass
class LiveSite:
    url: str
    username: str
    password: str
    env: dict

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="session")
def live_site(tmp_path_factory, oidc_provider):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    var = tmp_path_factory.mktemp("site")
    port = free_port()
    env = {
        **os.environ,
        "CHATSITE_VAR_DIR": str(var),
        "STATIC_ROOT": str(var / "static"),
        "CHATSITE_DEMO": "1",
        "CHATSITE_HTTPS": "0",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "REPLY_CHECKPOINT_SECONDS": "0.5",
        # Every browser test chats as the demo user, faster than a person would.
        "CHATSITE_MESSAGES_PER_MINUTE": "1000",
        "OIDC_ISSUER": oidc_provider.url,
        "OIDC_CLIENT_ID": "chatsite-browser-tests",
        "OIDC_CLIENT_SECRET": secrets.token_urlsafe(16),
        "OIDC_PROVIDER_NAME": "Example SSO",
        "OIDC_GROUPS_CLAIM": "groups",
    }
    if os.environ.get("DATABASE_URL"):
        # One database per test run, so that two runs on one machine never share (or drop) it.
        database = f"chatsite_browser_{os.getpid()}"
        env["DATABASE_URL"] = fresh_postgres_database(os.environ["DATABASE_URL"], database)
    site = LiveSite(
        url=f"http://127.0.0.1:{port}", username="demo", password=secrets.token_urlsafe(12), env=env
    )
    site.manage("migrate", "--no-input")
    site.manage("collectstatic", "--no-input")
    site.manage("seed_demo", "--port", str(port), f"--password={site.password}")
    log = open(var / "daphne.log", "w")  # noqa: SIM115 - closed after the server stops
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{site.url}/accounts/login/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the site did not start: {(var / 'daphne.log').read_text()}")
            time.sleep(0.2)
        yield site
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
        if os.environ.get("DATABASE_URL"):
            drop_postgres_database(os.environ["DATABASE_URL"], database)


@pytest.fixture(scope="session")
def browser(live_site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
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


def sign_in(page, site: LiveSite) -> None:
    page.goto(f"{site.url}/accounts/login/")
    page.get_by_label("Username").fill(site.username)
    page.get_by_label("Password").fill(site.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
