"""The resolution target is kept: tickets unresolved past it (business hours) are listed in the SLA digest with
their assignee, each ticket once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from scheduler.config import CareConfig
from scheduler.jobs import run_job
from storage.db import SessionFactory
from tests.botapi import FakeTelegram
from tests.care_support import add_customer, fake_sender
from tests.ids import STAFF_CHAT_ID
from tests.scheduler.test_care_planning import add_ticket

CONFIG = CareConfig(
    quiet_hours="",
    rate_limits=False,
    staff_chat_id=STAFF_CHAT_ID,
    default_language="en",
    business_hours="Mon-Fri 09:00-18:00",
    sla_resolution_hours=2,
)
MONDAY_09_00 = datetime(2026, 6, 8, 1, 0, tzinfo=UTC)  # Shanghai time


def section(text: str) -> str:
    """The digest's resolution part."""
    _, found, rest = text.partition("unresolved past the 2 h resolution target")
    return rest if found else ""


async def test_tickets_unresolved_past_the_target_are_listed_once_with_their_assignee(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    staff = tg.group(STAFF_CHAT_ID, "Staff")
    vip = await add_customer(sessions, 961, first_name="Vera", segment="vip")
    fri = await add_customer(sessions, 962, first_name="Fritz")
    late_morning = await add_customer(sessions, 963, first_name="Lena")
    silent = await add_customer(sessions, 964, first_name="Sid")
    answered = MONDAY_09_00 + timedelta(minutes=10)
    taken = await add_ticket(
        sessions,
        vip.id,
        status="pending",
        opened_at=MONDAY_09_00,
        first_response_at=answered,
        assignee_telegram_id=800001,
        assignee_name="Gus Agent",
    )
    # opened Friday 17:00: one open hour on Friday and two and a half on Monday morning
    weekend = await add_ticket(
        sessions, fri.id, status="open", opened_at=datetime(2026, 6, 5, 9, 0, tzinfo=UTC), first_response_at=answered
    )
    later = await add_ticket(sessions, late_morning.id, status="pending", opened_at=MONDAY_09_00 + timedelta(hours=1))
    unanswered = await add_ticket(sessions, silent.id, status="open", opened_at=MONDAY_09_00)
    await add_ticket(sessions, fri.id, status="resolved", opened_at=MONDAY_09_00 - timedelta(days=7))

    with time_machine.travel(MONDAY_09_00 + timedelta(hours=2, minutes=30), tick=False):
        assert await run_job("sla", sessions=sessions, config=CONFIG) == 1
        assert await run_job("sla", sessions=sessions, config=CONFIG) == 0  # nothing new
    with time_machine.travel(MONDAY_09_00 + timedelta(hours=3, minutes=1), tick=False):
        assert await run_job("sla", sessions=sessions, config=CONFIG) == 1  # the later ticket is past it now
        assert await run_job("sla", sessions=sessions, config=CONFIG) == 0
    async with fake_sender(tg, sessions, CONFIG) as sender:
        await sender.drain()

    first, second = (message.content for message in tg.sent_to(staff))
    assert "1 ticket waiting past its first-response target" in first
    assert "2 tickets unresolved past the 2 h resolution target" in first
    assert f"#{taken.id} · ⭐ Vera · open 2 h · assigned to Gus Agent" in section(first)
    assert f"#{weekend.id} · Fritz · open 3 h · not assigned" in section(first)
    assert f"#{unanswered.id} · Sid" not in section(first)  # listed under the first answer instead
    assert "1 ticket unresolved past the 2 h resolution target" in second
    assert f"#{later.id} · Lena · open 2 h · not assigned" in section(second)
    for ticket in (taken, weekend, later):  # each ticket once
        assert sum(section(text).count(f"#{ticket.id} ·") for text in (first, second)) == 1


async def test_a_digest_of_late_resolutions_alone_has_no_first_response_part(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    staff = tg.group(STAFF_CHAT_ID, "Staff")
    customer = await add_customer(sessions, 971, first_name="Ona")
    await add_ticket(sessions, customer.id, status="pending", opened_at=MONDAY_09_00, first_response_at=MONDAY_09_00)
    config = CONFIG.model_copy(update={"default_language": "zh_CN"})
    with time_machine.travel(MONDAY_09_00 + timedelta(hours=5), tick=False):
        assert await run_job("sla", sessions=sessions, config=config) == 1
    async with fake_sender(tg, sessions, config) as sender:
        await sender.drain()
    (digest,) = tg.sent_to(staff)
    assert digest.content.startswith("⌛ 1 个工单超过 2 小时解决时限仍未解决")
    assert "#1 · Ona · 已开启 5 小时 · 未分配" in digest.content
