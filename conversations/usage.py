"""How agents are used: per-day figures over the last days, computed in the database.

Durations are seconds from the reply's creation (the user's message was saved
a moment before) to its first words and to its end. Percentiles are
PostgreSQL's `percentile_cont`; on SQLite the same aggregate is registered as
a function of the connection (see `register_sqlite_percentile`).
"""

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.backends.signals import connection_created
from django.db.models import Aggregate, Count, F, FloatField, Func, Q, QuerySet
from django.db.models.functions import TruncDate
from django.dispatch import receiver
from django.utils import timezone

from agents.models import Agent
from conversations.models import Attachment, Feedback, Message

DAYS = 30


class SecondsBetween(Func):
    """`end - start` in seconds, as a float."""

    output_field = FloatField()
    arity = 2

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))", arg_joiner=" - ", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


def seconds_to(moment: str) -> SecondsBetween:
    return SecondsBetween(F(moment), F("created_at"))


class Percentile(Aggregate):
    """The continuous percentile `fraction` (0..1) of an expression, ignoring NULLs."""

    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any):
        super().__init__(expression, **extra)
        self.fraction = float(fraction)

    def as_postgresql(self, compiler, connection, **extra):
        template = f"PERCENTILE_CONT({self.fraction}) WITHIN GROUP (ORDER BY %(expressions)s)"
        return self.as_sql_with(template, compiler, connection, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        template = f"chatsite_percentile(%(expressions)s, {self.fraction})"
        return self.as_sql_with(template, compiler, connection, **extra)

    def as_sql_with(self, template: str, compiler, connection, **extra):
        # Aggregate.as_sql cannot take `template=` together with a filter: a copy carries it instead.
        clone = self.copy()
        clone.template = template
        return Aggregate.as_sql(clone, compiler, connection, **extra)


class SQLitePercentile:
    """`percentile_cont` for SQLite, which has no such aggregate."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value: float | None, fraction: float) -> None:
        self.fraction = fraction
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        if not self.values:
            return None
        ordered = sorted(self.values)
        position = self.fraction * (len(ordered) - 1)
        lower = int(position)
        upper = min(lower + 1, len(ordered) - 1)
        return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


@receiver(connection_created)
def register_sqlite_percentile(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("chatsite_percentile", 2, SQLitePercentile)


@contextmanager
def room_to_sort() -> Iterator[None]:
    """A transaction whose sorts stay in memory on PostgreSQL (the default 4 MB spills a month to disk)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '32MB'")
        yield


@dataclass
class Usage:
    """Figures for one day, or for the whole period (`day` None)."""

    day: date | None = None
    messages: int = 0
    active_users: int = 0
    replies: int = 0
    errored: int = 0
    interrupted: int = 0
    first_words_p50: float | None = None
    first_words_p95: float | None = None
    reply_p50: float | None = None
    reply_p95: float | None = None
    files: int = 0
    # Feedback given that day on the agent's replies.
    thumbs_up: int = 0
    thumbs_down: int = 0


def figures() -> dict[str, Any]:
    user, assistant = Message.Role.USER, Message.Role.ASSISTANT
    finished = Q(role=assistant, finished_at__isnull=False)
    return {
        "messages": Count("id", filter=Q(role=user)),
        "active_users": Count("conversation__owner_id", filter=Q(role=user), distinct=True),
        "replies": Count("id", filter=Q(role=assistant)),
        "errored": Count("id", filter=Q(role=assistant, status=Message.Status.ERROR)),
        "interrupted": Count("id", filter=Q(role=assistant, status=Message.Status.INTERRUPTED)),
        "first_words_p50": Percentile(seconds_to("first_text_at"), 0.5, filter=finished),
        "first_words_p95": Percentile(seconds_to("first_text_at"), 0.95, filter=finished),
        "reply_p50": Percentile(seconds_to("finished_at"), 0.5, filter=finished),
        "reply_p95": Percentile(seconds_to("finished_at"), 0.95, filter=finished),
    }


def period_start(days: int = DAYS) -> date:
    return timezone.localdate() - timedelta(days=days - 1)


def start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def messages_in_period(agent: Agent | None, days: int) -> QuerySet[Message]:
    since = start_of(period_start(days))
    messages = Message.objects.filter(created_at__gte=since)
    return messages.filter(conversation__agent=agent) if agent is not None else messages


def files_sent(agent: Agent | None, days: int) -> QuerySet[Attachment]:
    since = start_of(period_start(days))
    files = Attachment.objects.filter(message__isnull=False, message__created_at__gte=since)
    return files.filter(conversation__agent=agent) if agent is not None else files


def feedback_in_period(agent: Agent | None, days: int) -> QuerySet[Feedback]:
    since = start_of(period_start(days))
    given = Feedback.objects.filter(created_at__gte=since)
    return given.filter(agent=agent) if agent is not None else given


def thumbs() -> dict[str, Count]:
    return {
        "thumbs_up": Count("id", filter=Q(rating=Feedback.Rating.UP)),
        "thumbs_down": Count("id", filter=Q(rating=Feedback.Rating.DOWN)),
    }


def figures_per_day(messages: QuerySet[Message]) -> tuple[dict[date, dict[str, Any]], dict[str, Any]]:
    """`figures()` of `messages` for each day, and for all of them.

    PostgreSQL computes both in one read of the messages, grouping by
    `GROUPING SETS ((day), ())`: Django groups by the day's ordinal, which the
    query's end names. Other databases run one query for each.
    """
    per_day = messages.order_by().annotate(day=TruncDate("created_at")).values("day").annotate(**figures())
    if connection.vendor == "postgresql":
        sql, params = per_day.query.sql_with_params()
        sql, found = re.subn(r"GROUP BY (\d+)$", r"GROUP BY GROUPING SETS ((\1), ())", sql)
        if found:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                names = [column.name for column in cursor.description]
                rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            # The day is never NULL but in the row of the empty grouping set: the whole period's.
            days = {row.pop("day"): row for row in rows}
            return days, days.pop(None, {})
    return {row.pop("day"): row for row in per_day}, messages.order_by().aggregate(**figures())


@dataclass
class UsageReport:
    """Every day of the period, and the whole period (its percentiles over all its replies, not of days)."""

    days: list[Usage]
    period: Usage


def usage_report(agent: Agent | None = None, days: int = DAYS) -> UsageReport:
    """The last `days` days of one agent, or of the whole site."""
    by_day, total = figures_per_day(messages_in_period(agent, days))
    start = period_start(days)
    days_list = [Usage(day=start + timedelta(n), **by_day.get(start + timedelta(n), {})) for n in range(days)]
    files_by_day = dict(
        files_sent(agent, days)
        .order_by()
        .annotate(day=TruncDate("message__created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    feedback_by_day = {
        row.pop("day"): row
        for row in feedback_in_period(agent, days)
        .order_by()
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(**thumbs())
    }
    for usage in days_list:
        usage.files = files_by_day.get(usage.day, 0)
        for name, count in feedback_by_day.get(usage.day, {}).items():
            setattr(usage, name, count)
    period = Usage(
        **total,
        files=sum(files_by_day.values()),
        thumbs_up=sum(row["thumbs_up"] for row in feedback_by_day.values()),
        thumbs_down=sum(row["thumbs_down"] for row in feedback_by_day.values()),
    )
    return UsageReport(days=days_list, period=period)


def usage_by_agent(days: int = DAYS) -> list[tuple[Agent, Usage]]:
    """Every agent with the period's messages, replies and failures (busiest first)."""
    counts = ("messages", "active_users", "replies", "errored", "interrupted")
    rows = (
        messages_in_period(None, days)
        .order_by()
        .values("conversation__agent_id")
        .annotate(**{name: figures()[name] for name in counts})
    )
    by_agent = {row.pop("conversation__agent_id"): Usage(**row) for row in rows}
    feedback_rows = feedback_in_period(None, days).order_by().values("agent_id").annotate(**thumbs())
    for row in feedback_rows:
        usage = by_agent.setdefault(row.pop("agent_id"), Usage())
        usage.thumbs_up, usage.thumbs_down = row["thumbs_up"], row["thumbs_down"]
    agents = Agent.objects.order_by("name")
    return sorted(
        ((agent, by_agent.get(agent.pk, Usage())) for agent in agents), key=lambda pair: -pair[1].messages
    )


def usage_csv(days_usage: list[Usage]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    names = [f.name for f in fields(Usage)]
    writer.writerow(names)
    for usage in days_usage:
        values = [getattr(usage, name) for name in names]
        writer.writerow(["" if v is None else round(v, 3) if isinstance(v, float) else v for v in values])
    return out.getvalue()
