"""The desk's reports: the `/stats` figures and charts for 7, 30 or 90 days (bot/handlers/staff/reports.py)."""

from __future__ import annotations

import asyncio
import time
from functools import partial

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from bot.handlers.staff.reports import PERIODS, chart_label, summary
from bot.web.desk import NO_STORE, Caller, Desk
from storage.db import transaction
from storage.reports import StatsReport, stats_report
from storage.staff import audit
from storage.types import utcnow

KEEP_SECONDS = 60  # the page asks for its charts one by one: they are drawn once, with the page


async def _report(desk: Desk, caller: Caller, days: int, *, audited: bool = True) -> StatsReport:
    settings = desk.services.settings
    async with transaction(desk.services.sessions) as session:
        report = await stats_report(session, days=days, now=utcnow(), hours=settings.hours)
        if audited:
            await audit(session, actor_telegram_id=caller.user.id, action="stats.view", detail=f"{days}d")
    return report


def _days(value: str | None) -> int:
    return PERIODS.get(f"{value}d", 7) if value else 7


async def reports_page(desk: Desk, request: Request, caller: Caller) -> Response:
    days = _days(request.query_params.get("days"))
    settings = desk.services.settings
    report = await _report(desk, caller, days)
    charts = await _charts(desk, caller, days, report)
    text = summary(
        report,
        caller.lang,
        days=days,
        first_target=settings.sla_first_response_minutes,
        resolution_target=settings.sla_resolution_hours * 60,
    )
    return desk.render(
        "reports.html",
        caller,
        days=days,
        periods=sorted(PERIODS.values()),
        lines=[Markup(line) for line in text.split("\n")],  # the catalog's HTML, every value in it escaped
        charts=range(1, len(charts) + 1),
    )


async def chart(desk: Desk, request: Request, caller: Caller) -> Response:
    """One of the `/stats` charts as a PNG (drawn with the page that shows it, kept a minute)."""
    days, number = int(request.path_params["days"]), int(request.path_params["number"])
    if days not in PERIODS.values():
        return Response("no such chart", status_code=404, headers=NO_STORE)
    charts = await _charts(desk, caller, days)
    if not 1 <= number <= len(charts):
        return Response("no such chart", status_code=404, headers=NO_STORE)
    return Response(charts[number - 1], media_type="image/png", headers=NO_STORE)


async def _charts(desk: Desk, caller: Caller, days: int, report: StatsReport | None = None) -> list[bytes]:
    """The charts of a period in the caller's language, drawn at most once a minute."""
    key = (days, caller.lang)
    async with desk.charts_lock:
        kept = desk.charts.get(key)
        if kept is None or time.monotonic() - kept[0] > KEEP_SECONDS:
            report = report or await _report(desk, caller, days, audited=False)  # the page was audited
            kept = (time.monotonic(), await _draw(desk, caller.lang, report))
            desk.charts[key] = kept
    return kept[1]


async def _draw(desk: Desk, lang: str, report: StatsReport) -> list[bytes]:
    settings = desk.services.settings
    from bot.ui.charts import render_stats  # matplotlib loads on the first chart, not at every start-up

    return await asyncio.to_thread(
        render_stats,
        report,
        partial(chart_label, lang),
        first_target=settings.sla_first_response_minutes,
        resolution_target=settings.sla_resolution_hours * 60,
    )
