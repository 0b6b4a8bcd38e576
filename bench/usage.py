#!/usr/bin/env python3
"""Benchmark of the admin's usage page on a large PostgreSQL database.

    .venv/bin/python bench/usage.py                      1,000,000 messages (about 2 minutes)
    .venv/bin/python bench/usage.py --messages 100000    a smaller run

Makes a fresh database next to `--database` (default: the local PostgreSQL's
`test` database), migrates it, seeds users, agents, conversations and messages
spread over a year (replies with timings, some errors and interruptions, some
files), then times the usage pages in this process with Django's test client:
the whole site and the busiest agent, each the median of `--runs` views after
one warm-up. The baseline is the admin's index page, timed in the same run.
Nothing fails; it prints a table.
"""

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def fresh_database(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def seed(messages: int, users: int, agents: int, conversations: int) -> None:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.db import connection

    from agents.models import Agent, Credential, Platform
    from conversations.models import Attachment, Conversation, Message

    credential = Credential(platform=Platform.SKETRICGEN, name="bench", base_url="https://example.com")
    credential.set_api_key("bench-key")
    credential.save()
    agent_rows = Agent.objects.bulk_create(
        Agent(name=f"Agent {n}", slug=f"agent-{n}", credential=credential, upstream_agent_id=f"a{n}")
        for n in range(agents)
    )
    unusable = make_password(None)
    user_rows = User.objects.bulk_create(User(username=f"user{n}", password=unusable) for n in range(users))
    conversation_rows = Conversation.objects.bulk_create(
        (
            Conversation(owner=user_rows[n % users], agent=agent_rows[(n * 7) % agents])
            for n in range(conversations)
        ),
        batch_size=5000,
    )
    batch = 20_000
    for start in range(0, messages, batch):
        Message.objects.bulk_create(
            Message(
                conversation=conversation_rows[(n // 2) % conversations],
                role=Message.Role.USER if n % 2 == 0 else Message.Role.ASSISTANT,
                content="How do I rotate the keys of our staging cluster?" if n % 2 == 0 else "Step one …",
                status=(
                    Message.Status.ERROR
                    if n % 200 == 1
                    else Message.Status.INTERRUPTED
                    if n % 200 == 3
                    else Message.Status.COMPLETE
                ),
            )
            for n in range(start, min(start + batch, messages))
        )
    with connection.cursor() as cursor:
        # A year of history; a pair's reply follows its question.
        cursor.execute(
            """
            UPDATE conversations_message SET created_at = now() - ((id / 2) % 365) * interval '1 day'
                - random() * interval '20 hours'
            """
        )
        cursor.execute(
            """
            UPDATE conversations_message
               SET first_text_at = created_at + random() * interval '3 seconds',
                   finished_at = created_at + interval '3 seconds' + random() * interval '30 seconds'
             WHERE role = 'assistant'
            """
        )
    questions = Message.objects.filter(role=Message.Role.USER).values_list("id", "conversation_id")[::100]
    Attachment.objects.bulk_create(
        Attachment(
            conversation_id=conversation_id,
            message_id=message_id,
            name="chart.png",
            content_type="image/png",
            size=1000,
            sha256="0" * 64,
        )
        for message_id, conversation_id in questions
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def timed(client, url: str, runs: int) -> list[float]:
    client.get(url)  # warm-up: templates, discovery of the plan
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run seeded")
    args = parser.parse_args()

    name = "chatsite_bench_usage"
    database = (
        urlunsplit(urlsplit(args.database)._replace(path=f"/{name}"))
        if args.reuse
        else fresh_database(args.database, name)
    )
    os.environ.update(
        DATABASE_URL=database,
        DJANGO_SETTINGS_MODULE="chatsite.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        CHATSITE_HTTPS="0",
        ALLOWED_HOSTS="127.0.0.1",
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.conf import settings

    # Page views in this process, without a collectstatic run for the manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db.models import Count
    from django.test import Client

    from agents.models import Agent
    from conversations.models import Message

    call_command("migrate", verbosity=0)
    if not args.reuse:
        started = time.perf_counter()
        seed(args.messages, args.users, args.agents, args.conversations)
        print(f"seeded {args.messages:,} messages in {time.perf_counter() - started:.0f} s", flush=True)
    messages = Message.objects.count()

    admin, _ = User.objects.get_or_create(username="bench-admin", is_staff=True, is_superuser=True)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)
    busiest = Agent.objects.annotate(n=Count("conversations")).order_by("-n").first()
    pages = {
        "admin index (baseline)": "/admin/",
        "usage, whole site": "/admin/usage/",
        f"usage, one agent ({busiest.name})": f"/admin/usage/{busiest.pk}/",
        "usage CSV, whole site": "/admin/usage/?format=csv",
    }
    results = {name: timed(client, url, args.runs) for name, url in pages.items()}
    baseline = statistics.median(results["admin index (baseline)"])
    print(f"\n{messages:,} messages, median of {args.runs} views (ms); ratio to the admin index page\n")
    print("| page | median ms | max ms | x baseline |")
    print("|---|---:|---:|---:|")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"| {name} | {median:.0f} | {max(times):.0f} | {median / baseline:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
