"""The admin's usage pages: figures per day and per agent, from what the relay records."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Agent
from conversations.models import Attachment, Conversation, Message
from conversations.usage import usage_by_agent, usage_report
from tests.conversations.conftest import signed_in_client
from tests.conversations.sockets import frames_until

NOW = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)


def turn(conversation, *, days_ago=0, first_words=1.0, end=2.0, status=Message.Status.COMPLETE) -> Message:
    """A user message and its reply `days_ago`, the reply's first words and end after the given seconds."""
    at = NOW - timedelta(days=days_ago)
    question = Message.objects.create(conversation=conversation, role=Message.Role.USER, content="q")
    reply = Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, status=status)
    Message.objects.filter(pk=question.pk).update(created_at=at)
    Message.objects.filter(pk=reply.pk).update(
        created_at=at,
        first_text_at=at + timedelta(seconds=first_words) if first_words is not None else None,
        finished_at=at + timedelta(seconds=end),
    )
    return question


@pytest.fixture
def other_agent(sketricgen_credential):
    return Agent.objects.create(
        name="Writer", slug="writer", credential=sketricgen_credential, upstream_agent_id="agent-demo"
    )


@pytest.fixture
def busy_week(alice, bob, conversation, other_agent):
    bobs = Conversation.objects.create(owner=bob, agent=conversation.agent)
    for seconds in (1, 2, 3, 4):
        turn(conversation, first_words=seconds, end=seconds * 10)
    turn(bobs, first_words=None, end=1, status=Message.Status.ERROR)
    turn(bobs, days_ago=1, first_words=0.5, end=5, status=Message.Status.INTERRUPTED)
    turn(conversation, days_ago=45)  # outside the 30 days
    writer = Conversation.objects.create(owner=alice, agent=other_agent)
    question = turn(writer, days_ago=2)
    Attachment.objects.create(
        conversation=writer, message=question, name="a.png", content_type="image/png", size=3, sha256="x"
    )
    return conversation.agent


@pytest.mark.django_db
def test_a_days_figures_count_messages_people_failures_and_timings(busy_week):
    today = usage_report().days[-1]
    assert today.day == timezone.localdate()
    assert (today.messages, today.active_users, today.replies) == (5, 2, 5)
    assert (today.errored, today.interrupted) == (1, 0)
    # percentile_cont over the four finished replies with words: 1, 2, 3, 4 s (the errored one had none).
    assert today.first_words_p50 == pytest.approx(2.5, abs=0.001)
    assert today.first_words_p95 == pytest.approx(3.85, abs=0.001)
    assert today.reply_p50 == pytest.approx(20.0, abs=0.001)


@pytest.mark.django_db
def test_every_day_of_the_period_is_listed_and_older_days_are_left_out(busy_week):
    days = usage_report().days
    assert len(days) == 30
    assert days[-2].interrupted == 1 and days[-3].files == 1
    assert sum(d.messages for d in days) == 7
    assert days[0].messages == 0 and days[0].first_words_p50 is None


@pytest.mark.django_db
def test_an_agents_figures_are_its_own(busy_week, other_agent):
    mine = usage_report(busy_week).period
    assert (mine.messages, mine.active_users, mine.files) == (6, 2, 0)
    theirs = usage_report(other_agent).period
    assert (theirs.messages, theirs.files) == (1, 1)
    site = usage_report()
    by_agent = [(agent.name, usage.messages, usage.replies) for agent, usage in usage_by_agent()]
    assert by_agent == [("Helper", 6, 6), ("Writer", 1, 1)]
    assert (site.period.messages, site.period.active_users, site.period.files) == (7, 2, 1)
    # The period's median is over all its finished replies (0.5, 1, 1, 2, 3, 4 s), not a median of days.
    assert site.period.first_words_p50 == pytest.approx(1.5, abs=0.001)


@pytest.mark.django_db
def test_on_postgresql_the_days_and_the_period_come_from_one_read_of_the_months_messages(busy_week):
    if connection.vendor != "postgresql":
        pytest.skip("GROUPING SETS are PostgreSQL's; SQLite runs a query per grouping")
    with CaptureQueriesContext(connection) as queries:
        usage_report()
    reads = [q["sql"] for q in queries if 'FROM "conversations_message"' in q["sql"]]
    assert len(reads) == 1 and "GROUPING SETS" in reads[0]


@pytest.mark.django_db
def test_the_usage_page_draws_charts_with_their_numbers_and_exports_csv(busy_week, admin_user):
    client = signed_in_client(admin_user)
    page = client.get("/admin/usage/")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('class="usage-chart"') == 7 and "Time to first words" in html
    assert "7 messages" in html and "median" in html
    assert f'href="/admin/usage/{busy_week.pk}/"' in html

    agent_page = client.get(f"/admin/usage/{busy_week.pk}/").content.decode()
    assert "Usage of Helper" in agent_page and "6 messages" in agent_page

    csv_text = client.get(f"/admin/usage/{busy_week.pk}/?format=csv").content.decode()
    header, *rows = csv_text.strip().splitlines()
    assert header.startswith("day,messages,active_users,replies,errored,interrupted")
    assert len(rows) == 30 and rows[-1].startswith(f"{timezone.localdate()},5,2,5,1,0,2.5,3.85,20.0,")


@pytest.mark.django_db
def test_only_staff_who_may_view_agents_see_usage(busy_week, django_user_model, alice):
    assert signed_in_client(alice).get("/admin/usage/").status_code == 302  # to the admin's sign-in
    staff = django_user_model.objects.create_user("sam", password="pw", is_staff=True)
    assert signed_in_client(staff).get("/admin/usage/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_agent"))
    assert signed_in_client(staff).get("/admin/usage/").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_the_relay_records_when_a_reply_began_to_speak_and_ended(
    alice, conversation, connect, sketricgen
):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "hello", "client_id": "c1"})
    ended = (await frames_until(ws, "reply.ended"))[-1]
    reply = await sync_to_async(Message.objects.get)(pk=ended["message_id"])
    assert reply.created_at < reply.first_text_at <= reply.finished_at
    await ws.disconnect()
