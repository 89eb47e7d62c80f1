"""The desk's reports: the `/stats` figures and charts for 7, 30 or 90 days (bot/handlers/staff/reports.py),
per-agent figures included."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from functools import partial

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from bot.handlers.staff.reports import PERIODS, agent_lines, chart_label, summary
from bot.web.desk import NO_STORE, Caller, Desk
from storage.agent_stats import AgentFigures, agent_report
from storage.db import transaction
from storage.reports import StatsReport, stats_report
from storage.staff import audit
from storage.types import utcnow

KEEP_SECONDS = 60  # the page asks for its charts one by one: they are drawn once, with the page


async def _report(
    desk: Desk, caller: Caller, days: int, *, audited: bool = True
) -> tuple[StatsReport, list[AgentFigures]]:
    settings = desk.services.settings
    now = utcnow()
    async with transaction(desk.services.sessions) as session:
        report = await stats_report(session, days=days, now=now, hours=settings.hours, admin_ids=settings.admin_ids)
        agents = await agent_report(
            session, since=now - timedelta(days=days), admin_ids=settings.admin_ids, hours=settings.hours
        )
        if audited:
            await audit(session, actor_telegram_id=caller.user.id, action="stats.view", detail=f"{days}d")
    return report, agents


def _days(value: str | None) -> int:
    return PERIODS.get(f"{value}d", 7) if value else 7


async def reports_page(desk: Desk, request: Request, caller: Caller) -> Response:
    days = _days(request.query_params.get("days"))
    settings = desk.services.settings
    figures = await _report(desk, caller, days)
    charts = await _charts(desk, caller, days, figures)
    report, agents = figures
    text = "\n".join(
        [
            summary(
                report,
                caller.lang,
                days=days,
                first_target=settings.sla_first_response_minutes,
                resolution_target=settings.sla_resolution_hours * 60,
            ),
            *agent_lines(agents, caller.lang),
        ]
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


async def _charts(
    desk: Desk, caller: Caller, days: int, figures: tuple[StatsReport, list[AgentFigures]] | None = None
) -> list[bytes]:
    """The charts of a period in the caller's language, drawn at most once a minute."""
    key = (days, caller.lang)
    async with desk.charts_lock:
        kept = desk.charts.get(key)
        if kept is None or time.monotonic() - kept[0] > KEEP_SECONDS:
            figures = figures or await _report(desk, caller, days, audited=False)  # the page was audited
            kept = (time.monotonic(), await _draw(desk, caller.lang, *figures))
            desk.charts[key] = kept
    return kept[1]


async def _draw(desk: Desk, lang: str, report: StatsReport, agents: list[AgentFigures]) -> list[bytes]:
    settings = desk.services.settings
    from bot.ui.charts import agents_chart, render_stats  # matplotlib loads on the first chart, not at start-up

    label = partial(chart_label, lang)
    first_target = settings.sla_first_response_minutes
    charts = await asyncio.to_thread(
        render_stats, report, label, first_target=first_target, resolution_target=settings.sla_resolution_hours * 60
    )
    if agents:
        charts.append(await asyncio.to_thread(agents_chart, agents, label, first_target=first_target))
    return charts
