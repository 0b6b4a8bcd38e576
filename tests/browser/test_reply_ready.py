"""Knowing a reply is ready in Chromium: the tab title and a notification while the page is hidden.

Headless Chromium keeps every page "visible", so the page's visibility is switched through an
init script (document.visibilityState plus the visibilitychange event it would get), and
notifications shown are recorded on their way to the browser's own Notification.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser

HIDDEN_TAB = """
(() => {
  let state = "visible";
  Object.defineProperty(Document.prototype, "visibilityState", { get: () => state, configurable: true });
  Object.defineProperty(Document.prototype, "hidden", { get: () => state === "hidden", configurable: true });
  window.__setVisibility = (next) => {
    state = next;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  window.__notifications = [];
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push({ title, body: options?.body ?? "" });
    }
  };
})();
"""


@pytest.fixture
def hideable(browser, live_site):
    from tests.browser.conftest import sign_in

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.grant_permissions(["notifications"], origin=live_site.url)
    context.add_init_script(HIDDEN_TAB)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_site)
    yield page
    context.close()


def test_a_reply_that_ends_in_a_hidden_tab_marks_the_title_and_notifies(hideable, live_site):
    page = hideable
    open_demo_agent(page, live_site)
    page.locator(".user-button").click()  # the user menu
    page.get_by_role("menuitemcheckbox", name="Notify me when a reply is ready").click()
    expect(page.get_by_role("menuitemcheckbox")).to_have_attribute("aria-checked", "true")
    page.keyboard.press("Escape")

    send(page, "Ready when hidden [[delay=0.05]]")
    page.evaluate("window.__setVisibility('hidden')")
    # About a hundred words at 0.05 s each: the reply takes about as long as the default timeout.
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(page).to_have_title("(Reply ready) Ready when hidden [[delay=0.05]] · chatsite")
    notes = page.evaluate("window.__notifications")
    assert [note["title"] for note in notes] == ["SketricGen demo replied"]
    assert "simulated SketricGen agent" in notes[0]["body"]

    page.evaluate("window.__setVisibility('visible')")
    expect(page).to_have_title("Ready when hidden [[delay=0.05]] · chatsite")
    send(page, "Seen while looking")
    expect(page.locator("article.msg-assistant")).to_have_count(2)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    assert page.title() == "Ready when hidden [[delay=0.05]] · chatsite"
    assert len(page.evaluate("window.__notifications")) == 1
    screenshot(page, "reply-ready-visible-again")
