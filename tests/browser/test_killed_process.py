"""A page left open while its site process is killed with `kill -9` mid-reply, then restarted.

The page reconnects by itself to the new process; the reply is then marked
interrupted by the new process's sweep, not by the page, and the page is told:
it shows the reply interrupted, its text kept, with a Retry button.

As in tests/test_killed_process.py, the reply's row is aged past
REPLY_ALIVE_SECONDS (90 s) instead of waiting for it, once the page has
reconnected (so that its reconnection finds the reply still looking alive and
only the sweep can end it); the sweep runs every 2 s here, for real.
"""

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.site_process import running_site

pytestmark = pytest.mark.browser

SWEEP_SECONDS = 2
SWEPT_WITHIN_MS = (SWEEP_SECONDS + 15) * 1000


@pytest.fixture
def site(tmp_path):
    with running_site(
        tmp_path,
        "chatsite_killed_process_browser",
        REPLY_CHECKPOINT_SECONDS="0.5",
        REPLY_SWEEP_SECONDS=str(SWEEP_SECONDS),
    ) as site:
        yield site


def test_the_open_page_shows_a_reply_cut_off_by_kill_9_as_interrupted_with_retry(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, site)
    page.get_by_role("link", name="SketricGen demo").click()
    page.wait_for_url("**/agents/sketricgen-demo/new/")
    box = page.locator("#composer-input")
    box.fill("Talk at length [[words=400]] [[delay=0.05]]")
    box.press("Enter")
    reply = page.locator("article.msg-assistant").last
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(reply.locator(".msg-body")).to_contain_text("This is a simulated SketricGen agent")
    time.sleep(1.5)  # a few checkpoints (every 0.5 s), well before the reply's 20 s are over

    site.kill()
    connection = page.locator("#connection")
    expect(connection).to_have_attribute("data-state", "reconnecting")
    [saved] = site.replies()
    assert saved["status"] == "streaming" and saved["content"]

    site.start()
    # Reconnected by itself: its backoff after failed attempts grows to 15 s.
    expect(connection).to_be_hidden(timeout=40_000)
    time.sleep(1)  # its `resume` answered while the reply still looks alive
    expect(reply).to_have_attribute("data-status", "streaming")
    assert site.age_streaming_replies(24 * 3600) == 1

    expect(reply).to_have_attribute("data-status", "interrupted", timeout=SWEPT_WITHIN_MS)
    [interrupted] = site.replies()
    assert interrupted["status"] == "interrupted"
    assert interrupted["content"] == saved["content"]
    expect(reply.locator(".msg-error-text")).to_have_text("The reply was cut off when the site restarted.")
    expect(reply.locator(".msg-error .retry-btn")).to_be_visible()
    expect(reply.locator(".msg-body")).to_contain_text("This is a simulated SketricGen agent")
    screenshot(page, "killed-process-interrupted")
    context.close()


def test_a_german_page_is_told_of_a_swept_reply_in_german(browser, site):
    conversation_id = site.new_conversation()
    site.shell(
        "from conversations.models import Conversation, Message; "
        f"c = Conversation.objects.get(pk={conversation_id!r}); "
        "c.messages.create(role='user', content='Erzähl mir etwas'); "
        "print(c.messages.create(role='assistant', status='streaming', content='Es war einmal', seq=3, "
        "relay_channel='relay.gone!dead').pk)"
    )
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, site)
    context.add_cookies([{"name": "django_language", "value": "de", "url": site.url}])
    page.goto(f"{site.url}/c/{conversation_id}/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    reply = page.locator("article.msg-assistant").last
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(page.locator("#connection")).to_be_hidden()
    time.sleep(1)  # its `resume` answered while the reply still looks alive

    assert site.age_streaming_replies(24 * 3600) == 1
    expect(reply).to_have_attribute("data-status", "interrupted", timeout=SWEPT_WITHIN_MS)
    expect(reply.locator(".msg-error-text")).to_have_text(
        "Die Antwort wurde abgebrochen, als die Website neu startete."
    )
    context.close()
