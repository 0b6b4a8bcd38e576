"""A turn the platform refuses before answering is sent again, and the user sees it is retrying."""

import httpx
import pytest

from agents.models import Agent, Credential, Platform
from agents.providers.http import retry_after_seconds
from agents.providers.retry import retry_delay
from conversations.models import Conversation
from tests.conversations.sockets import frames_until, messages_of
from tests.fakes import ServedApp

pytestmark = pytest.mark.django_db(transaction=True)


class RefuseFirst:
    """In front of the SketricGen fake: refuses the first `count` turns with `status` and `headers`."""

    def __init__(self, fake):
        self.fake = fake
        self.count, self.status, self.headers = 0, 503, []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].endswith("run-workflow") and self.count > 0:
            self.count -= 1
            await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
            await send({"type": "http.response.body", "body": b'{"detail": "busy"}'})
            return
        await self.fake(scope, receive, send)


@pytest.fixture(scope="module")
def refusing_platform():
    from agents.fakes import FAKES

    with ServedApp(RefuseFirst(FAKES["sketricgen"])) as served:
        yield served


@pytest.fixture
def refusing(refusing_platform, sketricgen, settings):
    settings.UPSTREAM_RETRY_BASE_DELAY = 0.01
    refusing_platform.app.count = 0
    return refusing_platform.app


@pytest.fixture
def conversation_behind_refusals(refusing_platform, alice):
    credential = Credential(platform=Platform.SKETRICGEN, name="Busy", base_url=refusing_platform.url)
    credential.set_api_key("demo-key")
    credential.save()
    agent = Agent.objects.create(name="Busy", slug="busy", credential=credential, upstream_agent_id="a1")
    return Conversation.objects.create(owner=alice, agent=agent)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_a_refused_turn_is_retried_and_then_answered(
    alice, conversation_behind_refusals, connect, refusing, sketricgen, status
):
    refusing.count, refusing.status = 2, status
    _, ws = await connect(alice, conversation_behind_refusals.id)
    await ws.send_json_to({"type": "send", "text": "hello"})
    frames = await frames_until(ws, "reply.ended")
    retries = [f for f in frames if f["type"] == "retrying"]
    assert [f["attempt"] for f in retries] == [1, 2]
    assert all(str(status) in f["reason"] for f in retries)
    assert frames[-1]["status"] == "complete"
    user_messages = [m for m in await messages_of(conversation_behind_refusals) if m.role == "user"]
    assert len(user_messages) == 1
    assert len([r for r in sketricgen.app.requests if r["path"].endswith("run-workflow")]) == 1
    await ws.disconnect()


async def test_retries_stop_after_three_and_the_error_is_shown(
    alice, conversation_behind_refusals, connect, refusing
):
    refusing.count, refusing.status = 10, 503
    _, ws = await connect(alice, conversation_behind_refusals.id)
    await ws.send_json_to({"type": "send", "text": "hello"})
    frames = await frames_until(ws, "reply.ended")
    assert len([f for f in frames if f["type"] == "retrying"]) == 3
    assert frames[-1]["status"] == "error"
    assert "HTTP 503" in frames[-1]["error"]
    assert refusing.count == 6
    await ws.disconnect()


async def test_the_wait_the_platform_asks_for_is_honoured(
    alice, conversation_behind_refusals, connect, refusing
):
    refusing.count, refusing.status, refusing.headers = 1, 429, [(b"retry-after", b"1")]
    _, ws = await connect(alice, conversation_behind_refusals.id)
    await ws.send_json_to({"type": "send", "text": "hello"})
    frames = await frames_until(ws, "reply.ended")
    assert [f["delay"] for f in frames if f["type"] == "retrying"] == [1.0]
    assert frames[-1]["status"] == "complete"
    await ws.disconnect()


@pytest.mark.parametrize("status", [400, 401, 404, 500])
async def test_other_refusals_are_not_retried(alice, conversation_behind_refusals, connect, refusing, status):
    refusing.count, refusing.status = 1, status
    _, ws = await connect(alice, conversation_behind_refusals.id)
    await ws.send_json_to({"type": "send", "text": "hello"})
    frames = await frames_until(ws, "reply.ended")
    assert not [f for f in frames if f["type"] == "retrying"]
    assert frames[-1]["status"] == "error"
    await ws.disconnect()


async def test_a_reply_that_breaks_after_it_began_is_never_sent_again(
    alice, conversation, connect, sketricgen
):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "[[fail:drop]]"})
    frames = await frames_until(ws, "reply.ended")
    assert not [f for f in frames if f["type"] == "retrying"]
    assert len([r for r in sketricgen.app.requests if r["path"].endswith("run-workflow")]) == 1
    assert frames[-1]["status"] == "error"
    await ws.disconnect()


def test_retry_after_is_read_in_seconds_dates_and_rate_limit_resets():
    def response(**headers):
        return httpx.Response(429, headers=headers)

    assert retry_after_seconds(response(**{"retry-after": "7"})) == 7
    assert retry_after_seconds(response(**{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0
    assert retry_after_seconds(response(**{"x-ratelimit-reset": "12"})) == 12
    import time

    assert 55 <= retry_after_seconds(response(**{"x-ratelimit-reset": str(int(time.time()) + 60)})) <= 60
    assert retry_after_seconds(response()) is None


def test_backoff_grows_and_a_long_requested_wait_is_not_waited(settings):
    settings.UPSTREAM_RETRY_BASE_DELAY = 1
    waits = [retry_delay(attempt, None) for attempt in range(3)]
    assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2 and 2 <= waits[2] <= 4
    assert retry_delay(0, 3600) is None
