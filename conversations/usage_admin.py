"""The admin's usage pages: the whole site, and one agent, over the last days."""

from dataclasses import dataclass

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from agents.models import Agent
from conversations.usage import (
    DAYS,
    Usage,
    room_to_sort,
    usage_by_agent,
    usage_csv,
    usage_report,
)

CHART_WIDTH, CHART_HEIGHT = 300, 64


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass
class Chart:
    title: str
    summary: str
    bars: list[Bar]
    # p95 marks drawn over the p50 bars of a timing chart.
    marks: list[Bar]
    unit: str


def bars(days: list[Usage], values: list[float | None], unit: str, peak: float) -> list[Bar]:
    width = CHART_WIDTH / len(days)
    result = []
    for n, (usage, value) in enumerate(zip(days, values, strict=True)):
        height = 0.0 if not value or not peak else max(1.0, CHART_HEIGHT * value / peak)
        shown = _("no data") if value is None else f"{figure(value)} {unit}"
        label = f"{date_format(usage.day, 'D j M')}: {shown}"
        result.append(Bar(n * width + 1, CHART_HEIGHT - height, max(width - 2, 1), height, label))
    return result


def count_chart(title: str, days: list[Usage], attr: str, total: int, unit: str) -> Chart:
    values = [getattr(u, attr) for u in days]
    peak = max(values, default=0)
    return Chart(title, f"{figure(total)} {unit}", bars(days, values, unit, peak), [], unit)


def figure(value: float) -> str:
    """A number as the reader's language writes it, with one decimal when it has one."""
    places = 0 if float(value).is_integer() else 1
    return number_format(value, places, force_grouping=True)


def timing_chart(title: str, days: list[Usage], attr: str, period: Usage) -> Chart:
    p50 = [getattr(u, f"{attr}_p50") for u in days]
    p95 = [getattr(u, f"{attr}_p95") for u in days]
    peak = max((v for v in p95 if v is not None), default=0)
    median, slow = getattr(period, f"{attr}_p50"), getattr(period, f"{attr}_p95")
    if median is None:
        summary = _("no replies")
    else:
        summary = _("median %(median)s s · p95 %(p95)s s") % {
            "median": number_format(median, 1, force_grouping=True),
            "p95": number_format(slow, 1, force_grouping=True),
        }
    return Chart(title, summary, bars(days, p50, "s", peak), bars(days, p95, _("s (p95)"), peak), "s")


def charts_for(days: list[Usage], period: Usage) -> list[Chart]:
    failed = [
        Usage(day=u.day, errored=u.errored + u.interrupted) for u in days
    ]  # one bar: replies that did not complete
    return [
        count_chart(_("Messages"), days, "messages", period.messages, _("messages")),
        count_chart(_("Active users"), days, "active_users", period.active_users, _("people")),
        count_chart(
            _("Replies errored or interrupted"),
            failed,
            "errored",
            period.errored + period.interrupted,
            _("of %(count)s replies") % {"count": figure(period.replies)},
        ),
        timing_chart(_("Time to first words"), days, "first_words", period),
        timing_chart(_("Time to the end of a reply"), days, "reply", period),
        count_chart(_("Files sent"), days, "files", period.files, _("files")),
        feedback_chart(days, period),
    ]


def feedback_chart(days: list[Usage], period: Usage) -> Chart:
    """Bars: feedback given per day; the summary splits the period's into thumbs up and down."""
    given = [Usage(day=u.day, files=u.thumbs_up + u.thumbs_down) for u in days]
    chart = count_chart(_("Feedback on replies"), given, "files", 0, _("ratings"))
    chart.summary = f"{figure(period.thumbs_up)} 👍 · {figure(period.thumbs_down)} 👎"
    return chart


def usage_response(request: HttpRequest, agent: Agent | None) -> HttpResponse:
    if not request.user.has_perm("agents.view_agent"):
        raise PermissionDenied
    with room_to_sort():
        report = usage_report(agent)
        if request.GET.get("format") == "csv":
            return csv_response(report.days, agent)
        by_agent = usage_by_agent() if agent is None else []
    context = {
        **admin.site.each_context(request),
        "title": _("Usage of %(agent)s") % {"agent": agent.name} if agent else _("Usage"),
        "agent": agent,
        "days": report.days,
        "period_days": DAYS,
        "period": report.period,
        "charts": charts_for(report.days, report.period),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "by_agent": by_agent,
    }
    return TemplateResponse(request, "admin/usage.html", context)


def csv_response(days: list[Usage], agent: Agent | None) -> HttpResponse:
    name = f"usage-{agent.slug if agent else 'site'}.csv"
    response = HttpResponse(usage_csv(days), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def site_usage(request: HttpRequest) -> HttpResponse:
    return usage_response(request, None)


def agent_usage(request: HttpRequest, agent_id: int) -> HttpResponse:
    return usage_response(request, get_object_or_404(Agent, pk=agent_id))
