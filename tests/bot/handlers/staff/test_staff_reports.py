"""`/stats`: the report figures from the database, a text summary and PNG charts that render Chinese labels."""

from __future__ import annotations

import io
import warnings
from datetime import timedelta
from functools import partial

from PIL import Image

from bot.handlers.staff.reports import chart_label
from bot.ui.charts import render_stats
from storage import reports
from storage.business_hours import parse_business_hours
from storage.db import transaction
from storage.models import FaqEvent, OutboxMessage, SegmentChange, SurveyResponse, Ticket
from storage.types import utcnow
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.staff_world import add_customer, audit_rows, say, staff_world

HOURS = parse_business_hours("", timezone="Asia/Shanghai")  # always open: business minutes are wall-clock minutes


async def seed(bot: BotHarness) -> None:
    now = utcnow()
    vip = await add_customer(bot, 601, "Vera", segment="vip")
    await add_customer(bot, 602, "Nils", segment="new")
    await add_customer(bot, 603, "Pia")
    async with transaction(bot.services.sessions) as session:
        tickets = ((0, 30, 2, True), (2, 90, 30, False), (1, None, None, False), (10, 10, 1, True))
        for days_ago, first_minutes, resolve_hours, closed in tickets:
            opened = now - timedelta(days=days_ago, hours=3)  # resolved and closed in the past, whatever the hour
            resolved = opened + timedelta(hours=resolve_hours) if resolve_hours else None
            session.add(
                Ticket(
                    customer_id=vip.id,  # type: ignore[arg-type]
                    status=("closed" if closed else "resolved") if resolve_hours else "open",
                    opened_at=opened,
                    first_response_at=opened + timedelta(minutes=first_minutes) if first_minutes else None,
                    resolved_at=resolved,
                    closed_at=resolved if closed else None,
                )
            )
        for score in (5, 4, 4, 1):
            session.add(
                SurveyResponse(kind="csat", customer_id=vip.id, score=score, created_at=now - timedelta(hours=3))
            )
        session.add(SurveyResponse(kind="nps", customer_id=vip.id, score=9))
        session.add(SurveyResponse(kind="csat", customer_id=vip.id, score=2, created_at=now - timedelta(days=40)))
        session.add(SegmentChange(customer_id=vip.id, from_segment="new", to_segment="returning", reason="purchase"))  # type: ignore[arg-type]
        session.add(SegmentChange(customer_id=vip.id, from_segment="returning", to_segment="vip", reason="purchase"))  # type: ignore[arg-type]
        for event in ("hit", "hit", "hit", "miss", "escalated"):
            session.add(FaqEvent(event=event))
        session.add(
            OutboxMessage(
                key="care:stuck",
                kind="care",
                chat_id=601,
                template="x",
                status="sending",
                not_before=now - timedelta(hours=1),
            )
        )
        session.add(OutboxMessage(key="care:fresh", kind="care", chat_id=601, template="x", status="sending"))


async def test_report_figures_are_counted_in_sql(bot: BotHarness) -> None:
    await seed(bot)
    async with bot.services.sessions() as session:
        report = await reports.stats_report(session, days=7, now=utcnow(), hours=HOURS)
    assert len(report.tickets) == 7 and report.opened == 3 and report.closed == 1  # resolved is not closed
    assert report.times.first_response == 60 and report.times.resolution == 16 * 60
    assert report.satisfaction.distribution == {1: 1, 2: 0, 3: 0, 4: 2, 5: 1} and report.satisfaction.average == 3.5
    assert report.segments == {"potential": 1, "new": 1, "returning": 0, "vip": 1}
    assert [(m.from_segment, m.to_segment, m.count) for m in report.moves] == [
        ("new", "returning", 1),
        ("returning", "vip", 1),
    ]
    assert report.faq.hit_rate == 0.75 and report.stuck_outbox == 1


async def test_stats_sends_a_summary_and_charts_that_open_as_images(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    await seed(bot)
    summary = await say(bot, tg, world.agent, "/stats 30d", world.staff_chat)
    summary = tg.sent_to(world.staff_chat)[-6]
    assert "The last 30 days" in summary.content
    assert "Tickets: 4 opened, 2 closed" in summary.content
    assert "Resolution (median): 2 h · target 24 h" in summary.content
    assert "Satisfaction: 3.50 / 5 from 4 answers" in summary.content
    assert "The FAQ answered 75% of 4 questions" in summary.content
    assert "1 proactive message stuck in sending" in summary.content
    album = tg.calls_to("sendMediaGroup")
    assert len(album) == 1 and len(album[0].params["media"]) == 5
    pngs = [upload.content for upload in tg.uploads if upload.filename and upload.filename.endswith(".png")]
    assert len(pngs) == 5
    for png in pngs:
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG" and image.width > 400
    assert [row.detail for row in await audit_rows(bot, "stats.view")] == ["30d"]
    assert (await say(bot, tg, world.agent, "/stats 12d")).content.startswith("Usage: /stats")


async def test_chinese_chart_labels_render_without_missing_glyphs(bot: BotHarness) -> None:
    await seed(bot)
    async with bot.services.sessions() as session:
        report = await reports.stats_report(session, days=90, now=utcnow(), hours=HOURS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)"
        charts = render_stats(report, partial(chart_label, "zh_CN"), first_target=60, resolution_target=24 * 60)
    assert len(charts) == 5 and all(chart.startswith(b"\x89PNG") for chart in charts)
