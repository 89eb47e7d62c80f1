"""`/stats` reports NPS (promoters less detractors, with the counts) and the CSAT average of the period, both per
segment, as text and as a chart."""

from __future__ import annotations

import warnings
from datetime import timedelta
from functools import partial

from bot.handlers.staff.reports import chart_label
from bot.ui.charts import surveys_chart
from storage import reports
from storage.db import transaction
from storage.models import SurveyResponse
from storage.reports import NpsSummary
from storage.types import utcnow
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.staff_world import add_customer, say, staff_world

ANSWERS = {  # segment: (CSAT scores, NPS scores) given in the last days
    "vip": ((5, 4), (10, 9, 6)),
    "new": ((2,), (9, 8)),
    "returning": ((), (3,)),
    "potential": ((3,), ()),
}


async def seed(bot: BotHarness) -> None:
    now = utcnow()
    async with transaction(bot.services.sessions) as session:
        for n, (segment, (csat, nps)) in enumerate(ANSWERS.items()):
            customer = await add_customer(bot, 650 + n, f"C{n}", segment=segment)
            for kind, scores in (("csat", csat), ("nps", nps)):
                for score in scores:
                    session.add(
                        SurveyResponse(
                            kind=kind, customer_id=customer.id, score=score, created_at=now - timedelta(days=2)
                        )
                    )
            session.add(  # too old for the period
                SurveyResponse(kind="nps", customer_id=customer.id, score=0, created_at=now - timedelta(days=40))
            )


async def test_nps_and_csat_are_counted_per_segment(bot: BotHarness) -> None:
    await seed(bot)
    async with bot.services.sessions() as session:
        surveys = await reports.surveys_by_segment(session, since=utcnow() - timedelta(days=30))
    assert surveys.nps == {
        "potential": NpsSummary(0, 0, 0),
        "new": NpsSummary(1, 1, 0),
        "returning": NpsSummary(0, 0, 1),
        "vip": NpsSummary(2, 0, 1),
    }
    assert surveys.nps["vip"].score == 100 / 3 and surveys.nps["returning"].score == -100
    assert surveys.nps["potential"].score is None
    assert surveys.nps_total == NpsSummary(3, 1, 2) and surveys.nps_total.score == 100 / 6
    assert {segment: summary.average for segment, summary in surveys.csat.items()} == {
        "potential": 3.0,
        "new": 2.0,
        "returning": None,
        "vip": 4.5,
    }


async def test_stats_shows_nps_and_csat_by_segment(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    await seed(bot)
    await say(bot, tg, world.agent, "/stats 30d", world.staff_chat)
    summary = next(m.content for m in tg.sent_to(world.staff_chat) if "The last 30 days" in m.content)
    lines = summary.splitlines()
    assert "NPS: +17 from 6 answers — promoters 3, passives 1, detractors 2" in lines
    by_segment = lines.index("By segment (satisfaction · NPS):")
    assert lines[by_segment + 1 : by_segment + 5] == [
        "• potential: 3.00 / 5 from 1 · NPS — from 0",
        "• new: 2.00 / 5 from 1 · NPS +50 from 2",
        "• returning: — / 5 from 0 · NPS -100 from 1",
        "• VIP: 4.50 / 5 from 2 · NPS +33 from 3",
    ]
    (album,) = tg.calls_to("sendMediaGroup")
    assert len(album.params["media"]) == 5  # the fifth chart: NPS and satisfaction by segment


async def test_the_survey_chart_renders_its_chinese_labels(bot: BotHarness) -> None:
    await seed(bot)
    async with bot.services.sessions() as session:
        report = await reports.stats_report(session, days=30, now=utcnow(), hours=bot.services.settings.hours)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)"
        chart = surveys_chart(report, partial(chart_label, "zh_CN"))
    assert chart.startswith(b"\x89PNG")
