"""`/stats [7d|30d|90d]`: a short summary and PNG charts of tickets, response times, satisfaction, segments, FAQ."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial

from babel.numbers import format_decimal
from telegram import InputMediaPhoto, Update
from telegram.ext import CommandHandler

from bot.auth import staff_only
from bot.context import CarebotApp, Context
from bot.handlers.staff.common import actor_id, answer, lines, role_and_language, usage
from bot.ui.i18n import t
from storage.agent_stats import AgentFigures, agent_report
from storage.db import transaction
from storage.models import Role
from storage.reports import StatsReport, stats_report
from storage.staff import audit
from storage.types import utcnow

PERIODS = {"7d": 7, "30d": 30, "90d": 90}


def _minutes(value: float | None, lang: str) -> str:
    if value is None:
        return "—"
    if value < 120:
        return t(lang, "staff.stats.minutes", value=f"{value:.0f}")
    return t(lang, "staff.stats.hours", value=format_decimal(round(value / 60, 1), locale=lang))


def _nps(score: float | None) -> str:
    return f"{score:+.0f}" if score is not None else "—"


def _average(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "—"


def survey_lines(report: StatsReport, lang: str) -> list[str]:
    """NPS for the period (promoters less detractors, with the counts), then CSAT and NPS per segment."""
    surveys = report.surveys
    total = surveys.nps_total
    shown: list[str] = [
        t(
            lang,
            "staff.stats.nps",
            score=_nps(total.score),
            count=total.count,
            promoters=total.promoters,
            passives=total.passives,
            detractors=total.detractors,
        ),
        t(lang, "staff.stats.by_segment"),
    ]
    for segment, nps in surveys.nps.items():
        csat = surveys.csat[segment]
        shown.append(
            t(
                lang,
                "staff.stats.segment_surveys",
                segment=t(lang, f"staff.segment.{segment}"),
                csat=_average(csat.average),
                csat_count=csat.count,
                nps=_nps(nps.score),
                nps_count=nps.count,
            )
        )
    return shown


def summary(report: StatsReport, lang: str, *, days: int, first_target: int, resolution_target: int) -> str:
    satisfaction = report.satisfaction
    faq = report.faq
    segments = ", ".join(f"{t(lang, f'staff.segment.{name}')} {count}" for name, count in report.segments.items())
    moves = ", ".join(
        f"{t(lang, f'staff.segment.{move.from_segment}')} → {t(lang, f'staff.segment.{move.to_segment}')} {move.count}"
        for move in report.moves[:4]
    )
    return lines(
        t(lang, "staff.stats.title", days=days),
        t(lang, "staff.stats.tickets", opened=report.opened, closed=report.closed),
        t(
            lang,
            "staff.stats.first_response",
            median=_minutes(report.times.first_response, lang),
            target=_minutes(first_target, lang),
        ),
        t(
            lang,
            "staff.stats.resolution",
            median=_minutes(report.times.resolution, lang),
            target=_minutes(resolution_target, lang),
        ),
        t(
            lang,
            "staff.stats.satisfaction",
            average=_average(satisfaction.average),
            count=satisfaction.count,
        ),
        *survey_lines(report, lang),
        t(lang, "staff.stats.segments", segments=segments),
        t(lang, "staff.stats.moves", moves=moves or t(lang, "staff.card.none")),
        t(lang, "staff.stats.faq", rate=f"{faq.hit_rate:.0%}", count=faq.questions)
        if faq.hit_rate is not None
        else t(lang, "staff.stats.faq_none"),
        t(lang, "staff.stats.stuck_outbox", count=report.stuck_outbox) if report.stuck_outbox else None,
    )


def agent_lines(agents: list[AgentFigures], lang: str) -> list[str]:
    """Tickets and median first response per agent in the period, and each one's open tickets now."""
    if not agents:
        return []
    return ["", t(lang, "staff.stats.agents")] + [
        t(
            lang,
            "staff.stats.agent",
            name=agent.name,
            tickets=agent.tickets,
            median=_minutes(agent.first_response, lang),
            open_now=agent.open_now,
        )
        for agent in agents
    ]


def chart_label(lang: str, name: str) -> str:
    return t(lang, f"staff.chart.{name}")


@staff_only(Role.AGENT)
async def stats_command(update: Update, context: Context) -> None:
    args = context.args or []
    period = args[0].lower() if args else "7d"
    if len(args) > 1 or period not in PERIODS:
        await usage(update, context, "stats")
        return
    _, lang = await role_and_language(update, context)
    settings = context.services.settings
    days = PERIODS[period]
    async with transaction(context.services.sessions) as session:
        report = await stats_report(
            session, days=days, now=utcnow(), hours=settings.hours, admin_ids=settings.admin_ids
        )
        agents = await agent_report(
            session, since=utcnow() - timedelta(days=days), admin_ids=settings.admin_ids, hours=settings.hours
        )
        await audit(session, actor_telegram_id=actor_id(update), action="stats.view", detail=period)
    first_target = settings.sla_first_response_minutes
    resolution_target = settings.sla_resolution_hours * 60
    await answer(
        update,
        lines(
            summary(report, lang, days=days, first_target=first_target, resolution_target=resolution_target),
            *agent_lines(agents, lang),
        ),
    )
    from bot.ui.charts import render_stats  # matplotlib loads on the first /stats, not at every start-up

    charts = await asyncio.to_thread(
        render_stats,
        report,
        partial(chart_label, lang),
        first_target=first_target,
        resolution_target=resolution_target,
    )
    if agents:
        from bot.ui.charts import agents_chart

        charts.append(
            await asyncio.to_thread(agents_chart, agents, partial(chart_label, lang), first_target=first_target)
        )
    message = update.effective_message
    assert message is not None
    await message.reply_media_group(
        [InputMediaPhoto(png, filename=f"stats-{period}-{n}.png") for n, png in enumerate(charts, 1)]
    )


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("stats", stats_command))
