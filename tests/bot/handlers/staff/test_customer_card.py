"""The customer card is complete: the agreement (version, when accepted, until when), the last segment changes with
their reasons, open tickets and the last survey answers."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from storage.db import transaction
from storage.models import SegmentChange, SurveyResponse, Ticket, TicketStatus
from tests.agreements import accept, at, publish_both
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.staff_world import add_customer, say, staff_world

NOW = at("2026-06-10T04:00:00")  # 12:00 in Shanghai


async def test_the_card_shows_the_agreement_segment_changes_tickets_and_survey_answers(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    world = await staff_world(bot, tg)
    sessions = bot.services.sessions
    customer = await add_customer(bot, 521, "Mei", username="mei", segment="returning")
    assert customer.id is not None
    await publish_both(sessions, 1, now=NOW - timedelta(days=30))
    await accept(sessions, customer.id, 1, NOW - timedelta(days=10))  # 2026-05-31, 12:00 in Shanghai
    async with transaction(sessions) as session:
        session.add(Ticket(customer_id=customer.id, status=TicketStatus.OPEN.value))
        session.add(Ticket(customer_id=customer.id, status=TicketStatus.PENDING.value))
        session.add(SurveyResponse(kind="csat", customer_id=customer.id, score=5, created_at=NOW - timedelta(days=3)))
        session.add(SurveyResponse(kind="nps", customer_id=customer.id, score=9, created_at=NOW - timedelta(days=2)))
        for days_ago, before, after, reason in (
            (20, "potential", "new", "purchase"),
            (9, "new", "returning", "import"),
            (5, "returning", "new", "refund"),
            (4, "new", "returning", "purchase"),
        ):
            session.add(
                SegmentChange(
                    customer_id=customer.id,
                    from_segment=before,
                    to_segment=after,
                    reason=reason,
                    changed_at=NOW - timedelta(days=days_ago),
                )
            )
    with time_machine.travel(NOW, tick=True):
        card = await say(bot, tg, world.agent, "/customer @mei", world.staff_chat)
    lines = card.content.splitlines()
    assert "📝 Agreement: version 1 accepted" in lines
    assert "   version 1 · accepted in chat May 31, 2026, 12:00:00\u202fPM · valid until May 31, 2027" in lines
    changes = lines.index("Segment changes:")
    assert lines[changes + 1 : changes + 4] == [
        "• Jun 6, 2026: new → returning (a purchase)",
        "• Jun 5, 2026: returning → new (a refund)",
        "• Jun 1, 2026: new → returning (imported)",
    ]  # the last three, newest first
    assert "Open tickets: #1, #2" in lines
    assert "Last satisfaction: 5/5 on Jun 7, 2026" in lines
    assert "Last recommendation score (NPS): 9/10 on Jun 8, 2026" in lines


async def test_a_card_without_an_agreement_or_segment_history_says_so(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    await add_customer(bot, 522, "Lin", username="lin")
    card = await say(bot, tg, world.agent, "/customer @lin", world.staff_chat)
    assert "📝 Agreement: not required (no version published)" in card.content.splitlines()
    assert "Segment changes" not in card.content and "NPS" not in card.content
