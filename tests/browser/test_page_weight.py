"""The chat page's weight: what Chromium transfers for it, all from the site itself."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser

BUDGET_BYTES = 250 * 1024


def test_the_chat_page_stays_under_its_budget_with_no_third_party_request(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Weigh this page")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    conversation_url = page.url

    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send("Network.setCacheDisabled", {"cacheDisabled": True})
    transferred: dict[str, int] = {}
    urls: dict[str, str] = {}
    session.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
    session.on(
        "Network.loadingFinished", lambda e: transferred.__setitem__(e["requestId"], e["encodedDataLength"])
    )
    page.goto(conversation_url)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    page.wait_for_load_state("networkidle")

    site = urlsplit(live_site.url)
    foreign = [url for url in urls.values() if urlsplit(url).netloc not in (site.netloc, "")]
    assert foreign == []
    total = sum(transferred.values())
    print(f"chat page: {len(transferred)} requests, {total / 1024:.1f} KB transferred")
    assert total < BUDGET_BYTES, sorted(((n, urls.get(i)) for i, n in transferred.items()), reverse=True)
