"""One response-time clock: the ticket card, `/queue` and the staff digest count business minutes alike."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from bot.settings import Settings
from bot.tickets.views import sla_state
from scheduler.jobs import run_job
from storage.db import SessionFactory
from tests.care_support import add_customer
from tests.ids import STAFF_CHAT_ID
from tests.scheduler.test_care_planning import add_ticket

FRIDAY_17_50 = datetime(2026, 6, 5, 9, 50, tzinfo=UTC)  # Shanghai time
MONDAY_08_30 = datetime(2026, 6, 8, 0, 30, tzinfo=UTC)


def office_settings(database_url: str) -> Settings:
    return Settings(
        bot_token="123456:TEST",
        database_url=database_url,
        staff_chat_id=STAFF_CHAT_ID,
        timezone="Asia/Shanghai",
        business_hours="Mon-Fri 09:00-18:00",
        sla_first_response_minutes=60,
        quiet_hours="",
        rate_limits=False,
    )


async def test_card_and_digest_agree_on_a_ticket_late_only_in_wall_clock_time(
    sessions: SessionFactory, database_url: str
) -> None:
    settings = office_settings(database_url)
    customer = await add_customer(sessions, 951, first_name="Fri")
    ticket = await add_ticket(sessions, customer.id, opened_at=FRIDAY_17_50)
    # 62 hours on the wall clock, 10 minutes of opening hours: not late.
    with time_machine.travel(MONDAY_08_30, tick=False):
        assert sla_state(ticket, customer, settings, "en") == "🟢 50 min left for the first answer"
        assert await run_job("sla", sessions=sessions, config=settings) == 0
    # Monday 09:55: 65 open minutes; both say late.
    monday_09_55 = datetime(2026, 6, 8, 1, 55, tzinfo=UTC)
    with time_machine.travel(monday_09_55, tick=False):
        assert sla_state(ticket, customer, settings, "en") == "🔴 first answer overdue by 5 min"
        assert await run_job("sla", sessions=sessions, config=settings) == 1
