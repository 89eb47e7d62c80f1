"""The planners: the right customers, on the right day in their own time zone, once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import time_machine

from scheduler.config import CareConfig
from scheduler.jobs import run_job
from storage.db import SessionFactory, transaction
from storage.models import OutboxMessage, Purchase, SurveyResponse, Ticket
from storage.types import utcnow
from tests.botapi import FakeTelegram
from tests.care_support import add_customer, fake_sender, outbox_rows
from tests.ids import STAFF_CHAT_ID

CONFIG = CareConfig(quiet_hours="", rate_limits=False)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


async def planned_keys(sessions: SessionFactory, kind: str) -> dict[str, OutboxMessage]:
    return {row.key: row for row in await outbox_rows(sessions, kind=kind)}


async def test_birthdays_are_planned_for_10_am_on_the_day_in_each_customers_time_zone(sessions: SessionFactory) -> None:
    auckland = await add_customer(sessions, 801, timezone="Pacific/Auckland", birth_month=5, birth_day=18)
    new_york = await add_customer(sessions, 802, timezone="America/New_York", birth_month=5, birth_day=17)
    shanghai = await add_customer(sessions, 803, birth_month=5, birth_day=19, birth_year=1990)
    await add_customer(sessions, 804, timezone="America/New_York", birth_month=5, birth_day=19)
    await add_customer(sessions, 805, birth_month=5, birth_day=18, proactive_opt_out=True)
    await add_customer(sessions, 806)  # no birthday known
    # 20:00 UTC: already the 18th in Auckland, still the 17th in New York, 04:00 on the 18th in Shanghai
    with time_machine.travel(at(2026, 5, 17, 20, 0), tick=False):
        assert await run_job("birthday", sessions=sessions, config=CONFIG) == 3
    rows = await planned_keys(sessions, "birthday")
    assert set(rows) == {f"birthday:2026:customer:{c.id}" for c in (auckland, new_york, shanghai)}
    assert rows[f"birthday:2026:customer:{auckland.id}"].not_before == at(2026, 5, 17, 22, 0)  # 10:00 NZST
    assert rows[f"birthday:2026:customer:{new_york.id}"].not_before == at(2026, 5, 17, 14, 0)  # 10:00 EDT
    assert rows[f"birthday:2026:customer:{shanghai.id}"].not_before == at(2026, 5, 19, 2, 0)  # planned a day ahead
    assert all(not row.capped and json.loads(row.params)["gift"]["value"] == "50" for row in rows.values())


async def test_planning_twice_stores_each_greeting_once(sessions: SessionFactory) -> None:
    await add_customer(sessions, 811, birth_month=7, birth_day=1)
    with time_machine.travel(at(2026, 7, 1, 1, 0), tick=False):
        assert await run_job("birthday", sessions=sessions, config=CONFIG) == 1
        assert await run_job("birthday", sessions=sessions, config=CONFIG) == 0
    with time_machine.travel(at(2026, 7, 1, 9, 0), tick=False):
        assert await run_job("birthday", sessions=sessions, config=CONFIG) == 0
    assert len(await outbox_rows(sessions)) == 1


async def test_born_on_29_february_is_greeted_on_28_february_in_other_years(sessions: SessionFactory) -> None:
    leapling = await add_customer(sessions, 821, birth_year=2000, birth_month=2, birth_day=29)
    with time_machine.travel(at(2027, 2, 27, 3, 0), tick=False):  # 27 Feb 11:00 in Shanghai: the 28th is tomorrow
        await run_job("birthday", sessions=sessions, config=CONFIG)
    rows = await planned_keys(sessions, "birthday")
    assert rows[f"birthday:2027:customer:{leapling.id}"].not_before == at(2027, 2, 28, 2, 0)
    with time_machine.travel(at(2028, 2, 27, 3, 0), tick=False):  # 2028 is a leap year: not on the 28th
        await run_job("birthday", sessions=sessions, config=CONFIG)
    assert f"birthday:2028:customer:{leapling.id}" not in await planned_keys(sessions, "birthday")
    with time_machine.travel(at(2028, 2, 28, 3, 0), tick=False):
        await run_job("birthday", sessions=sessions, config=CONFIG)
    rows = await planned_keys(sessions, "birthday")
    assert rows[f"birthday:2028:customer:{leapling.id}"].not_before == at(2028, 2, 29, 2, 0)


async def test_spring_festival_from_the_holidays_library_greets_everyone_and_gives_vips_a_gift(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    zh_user, en_user = tg.user(831, "小王"), tg.user(832, "Vera")
    regular = await add_customer(sessions, 831, first_name="小王", language="zh_CN")
    vip = await add_customer(sessions, 832, first_name="Vera", segment="vip", timezone="Europe/London")
    with time_machine.travel(at(2026, 2, 16, 1, 0), tick=False):  # the eve: Spring Festival is tomorrow
        assert await run_job("holidays", sessions=sessions, config=CONFIG) == 2
        assert await run_job("holidays", sessions=sessions, config=CONFIG) == 0
    assert await outbox_rows(sessions) == []  # one pass per time zone; rows appear when they fall due
    with time_machine.travel(at(2026, 2, 17, 2, 0), tick=False):  # 10:00 in Shanghai, 02:00 in London
        async with fake_sender(tg, sessions, CONFIG) as sender:
            assert (await sender.drain()).sent == 1
    assert tg.sent_to(en_user) == []
    with time_machine.travel(at(2026, 2, 17, 10, 0), tick=False):  # 10:00 in London
        async with fake_sender(tg, sessions, CONFIG) as sender:
            assert (await sender.drain()).sent == 1
    rows = await planned_keys(sessions, "holiday")
    assert set(rows) == {f"holiday:2026-02-17:customer:{c.id}" for c in (regular, vip)}
    assert all(row.capped for row in rows.values())
    assert rows[f"holiday:2026-02-17:customer:{regular.id}"].not_before == at(2026, 2, 17, 2, 0)  # 10:00 Shanghai
    assert rows[f"holiday:2026-02-17:customer:{vip.id}"].not_before == at(2026, 2, 17, 10, 0)  # 10:00 London
    assert "小王，春节快乐" in tg.last_sent(zh_user).content  # type: ignore[union-attr]
    assert "🎁" not in tg.last_sent(zh_user).content  # type: ignore[union-attr]
    greeting = tg.last_sent(en_user)
    assert greeting is not None and "Warm wishes for Chinese New Year (Spring Festival), Vera!" in greeting.content
    assert "🎁 A small gift for you: code" in greeting.content


async def test_only_the_listed_holidays_are_greeted_and_mid_autumn_is_one_of_them(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    user = tg.user(841, "Lin")
    await add_customer(sessions, 841, first_name="Lin")
    with time_machine.travel(at(2026, 4, 4, 1, 0), tick=False):  # Tomb-Sweeping Day is not a greeting day
        assert await run_job("holidays", sessions=sessions, config=CONFIG) == 0
    with time_machine.travel(at(2026, 2, 17, 17, 0), tick=False):  # its 2nd and 3rd days: greeted on the 1st only
        assert await run_job("holidays", sessions=sessions, config=CONFIG) == 0
    with time_machine.travel(at(2026, 9, 24, 20, 0), tick=False):
        assert await run_job("holidays", sessions=sessions, config=CONFIG) == 1
    with time_machine.travel(at(2026, 9, 25, 2, 0), tick=False):
        async with fake_sender(tg, sessions, CONFIG) as sender:
            assert (await sender.drain()).sent == 1
    (row,) = await outbox_rows(sessions)
    assert row.key.startswith("holiday:2026-09-25:")
    assert json.loads(row.params)["holiday"] == {"en": "Mid-Autumn Festival", "zh_CN": "中秋节"}
    assert "Mid-Autumn Festival, Lin!" in tg.last_sent(user).content  # type: ignore[union-attr]


async def test_a_quiet_customer_gets_a_check_in_that_mentions_their_last_purchase(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    now = utcnow()
    user = tg.user(851, "Paul")
    quiet = await add_customer(sessions, 851, first_name="Paul", last_contact_at=now - timedelta(days=40))
    await add_customer(sessions, 852, last_contact_at=now - timedelta(days=20))  # not yet
    vip = await add_customer(sessions, 853, segment="vip", last_contact_at=now - timedelta(days=20))
    async with transaction(sessions) as session:
        for n, days in enumerate((60, 45)):
            session.add(
                Purchase(
                    customer_id=quiet.id,
                    amount=Decimal("88.50") + n,
                    currency="CNY",
                    reference=f"A-{n}",
                    occurred_at=now - timedelta(days=days),
                )
            )
    assert await run_job("checkin", sessions=sessions, config=CONFIG) == 2
    assert await run_job("checkin", sessions=sessions, config=CONFIG) == 0
    rows = {row.customer_id: row for row in await outbox_rows(sessions, kind="checkin")}
    assert set(rows) == {quiet.id, vip.id} and all(row.capped for row in rows.values())
    async with fake_sender(tg, sessions, CONFIG) as sender:
        await sender.drain()
    text = tg.last_sent(user).content  # type: ignore[union-attr]
    assert "your order A-1 of" in text and "CN¥89.50" in text
    with time_machine.travel(now + timedelta(days=3)):
        assert await run_job("checkin", sessions=sessions, config=CONFIG) == 0  # asked recently


async def test_the_periodic_survey_goes_to_recent_buyers_once_per_interval(sessions: SessionFactory) -> None:
    now = utcnow()
    buyer = await add_customer(sessions, 861)
    old_buyer = await add_customer(sessions, 862)
    await add_customer(sessions, 863)
    async with transaction(sessions) as session:
        session.add(
            Purchase(
                customer_id=buyer.id,
                amount=Decimal(10),
                currency="CNY",
                reference="B",
                occurred_at=now - timedelta(days=10),
            )
        )
        session.add(
            Purchase(
                customer_id=old_buyer.id,
                amount=Decimal(10),
                currency="CNY",
                reference="C",
                occurred_at=now - timedelta(days=120),
            )
        )
    assert await run_job("nps", sessions=sessions, config=CONFIG) == 1
    (row,) = await outbox_rows(sessions, kind="nps")
    assert row.customer_id == buyer.id and row.capped
    assert json.loads(row.params)["buttons"][1][-1] == ["10", "care:nps:10"]
    with time_machine.travel(now + timedelta(days=30)):
        assert await run_job("nps", sessions=sessions, config=CONFIG) == 0
    with time_machine.travel(now + timedelta(days=91)):
        async with transaction(sessions) as session:
            session.add(
                Purchase(customer_id=buyer.id, amount=Decimal(10), currency="CNY", reference="D", occurred_at=utcnow())
            )
        assert await run_job("nps", sessions=sessions, config=CONFIG) == 1


async def test_details_confirmed_over_a_year_ago_are_asked_about_once(sessions: SessionFactory) -> None:
    now = utcnow()
    stale = await add_customer(sessions, 871, phone="+8613800000000", last_confirmed_at=now - timedelta(days=400))
    await add_customer(sessions, 872, phone="+8613800000001", last_confirmed_at=now - timedelta(days=100))
    await add_customer(sessions, 873, created_at=now - timedelta(days=500))  # nothing to confirm
    assert await run_job("freshness", sessions=sessions, config=CONFIG) == 1
    with time_machine.travel(now + timedelta(days=2)):
        assert await run_job("freshness", sessions=sessions, config=CONFIG) == 0
    (row,) = await outbox_rows(sessions, kind="freshness")
    assert row.customer_id == stale.id and not row.capped
    assert json.loads(row.params)["buttons"] == [
        [["care.fresh.yes", "care:fresh:yes"], ["care.fresh.update", "care:fresh:update"]]
    ]


async def add_ticket(sessions: SessionFactory, customer_id: int | None, **fields: object) -> Ticket:
    async with transaction(sessions) as session:
        ticket = Ticket(customer_id=customer_id, **fields)  # type: ignore[arg-type]
        session.add(ticket)
        await session.flush()
        return ticket


async def test_a_closed_ticket_gets_one_survey_and_one_reminder_a_day_later(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    tg.user(881, "Ola")
    customer = await add_customer(sessions, 881)
    answered_customer = await add_customer(sessions, 882)
    tg.user(882, "Bea")
    now = utcnow()
    ticket = await add_ticket(sessions, customer.id, status="closed", closed_at=now, assignee_telegram_id=42)
    other = await add_ticket(sessions, answered_customer.id, status="closed", closed_at=now)
    await add_ticket(sessions, customer.id, status="open")
    assert await run_job("csat", sessions=sessions, config=CONFIG) == 2
    assert await run_job("csat", sessions=sessions, config=CONFIG) == 0
    async with fake_sender(tg, sessions, CONFIG) as sender:
        await sender.drain()
    async with transaction(sessions) as session:
        session.add(SurveyResponse(kind="csat", customer_id=answered_customer.id, ticket_id=other.id, score=5))
    with time_machine.travel(now + timedelta(hours=23)):
        assert await run_job("csat", sessions=sessions, config=CONFIG) == 0
    with time_machine.travel(now + timedelta(hours=25)):
        assert await run_job("csat", sessions=sessions, config=CONFIG) == 1
        assert await run_job("csat", sessions=sessions, config=CONFIG) == 0
    (reminder,) = await outbox_rows(sessions, kind="csat_reminder")
    assert reminder.key == f"csat-reminder:ticket:{ticket.id}" and not reminder.capped


async def test_overdue_tickets_are_listed_in_one_staff_digest_counted_in_business_hours(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    staff = tg.group(STAFF_CHAT_ID, "Staff")
    config = CareConfig(
        quiet_hours="",
        rate_limits=False,
        staff_chat_id=STAFF_CHAT_ID,
        default_language="en",
        business_hours="Mon-Fri 09:00-18:00",
    )
    vip = await add_customer(sessions, 891, first_name="<VIP>", segment="vip")
    regular = await add_customer(sessions, 892, first_name="Reg")
    weekend = await add_customer(sessions, 893, first_name="Sam")
    # Monday 2026-06-08, 10:30 in Shanghai
    monday = at(2026, 6, 8, 2, 30)
    first = await add_ticket(sessions, vip.id, opened_at=monday - timedelta(minutes=20))
    second = await add_ticket(sessions, regular.id, opened_at=monday - timedelta(minutes=30))
    # written on Friday 17:50: 10 open minutes on Friday and 90 on Monday morning
    late = await add_ticket(sessions, weekend.id, opened_at=at(2026, 6, 5, 9, 50))
    await add_ticket(sessions, regular.id, opened_at=monday - timedelta(hours=5), first_response_at=monday)
    with time_machine.travel(monday, tick=False):
        assert await run_job("sla", sessions=sessions, config=config) == 1
        assert await run_job("sla", sessions=sessions, config=config) == 0  # nothing new: no second digest
        async with fake_sender(tg, sessions, config) as sender:
            await sender.drain()
    (digest,) = tg.sent_to(staff)
    assert "2 tickets waiting past their first-response target" in digest.content
    assert f"#{first.id} · ⭐ <VIP> · waiting 20 min (target 15)" in digest.content
    assert f"#{late.id} · Sam · waiting 100 min (target 60)" in digest.content
    assert f"#{second.id}" not in digest.content
    with time_machine.travel(monday + timedelta(minutes=31), tick=False):
        assert await run_job("sla", sessions=sessions, config=config) == 1  # the second ticket is now late too


async def test_resolved_tickets_close_after_the_grace_days_and_the_customer_is_told(sessions: SessionFactory) -> None:
    customer = await add_customer(sessions, 901)
    now = utcnow()
    old = await add_ticket(sessions, customer.id, status="resolved", resolved_at=now - timedelta(days=4))
    recent = await add_ticket(sessions, customer.id, status="resolved", resolved_at=now - timedelta(days=1))
    assert await run_job("autoclose", sessions=sessions, config=CONFIG) == 1
    async with sessions() as session:
        closed, still = await session.get(Ticket, old.id), await session.get(Ticket, recent.id)
    assert closed is not None and closed.status == "closed" and closed.closed_at is not None
    assert still is not None and still.status == "resolved"
    (notice,) = await outbox_rows(sessions, kind="autoclose")
    assert notice.key == f"autoclose:ticket:{old.id}" and json.loads(notice.params) == {"number": old.id}
    (survey,) = await outbox_rows(sessions, kind="csat")  # planned with the closing, due with the notice, after it
    assert survey.key == f"csat:ticket:{old.id}" and survey.not_before == notice.not_before and survey.id > notice.id
    assert await run_job("csat", sessions=sessions, config=CONFIG) == 0  # the job finds nothing left to plan


def test_holiday_greeting_dates_cover_new_year_and_national_day() -> None:
    from scheduler.jobs.holidays import greeted_holiday

    assert greeted_holiday(CONFIG, date(2027, 1, 1)) == {"en": "New Year's Day", "zh_CN": "元旦"}
    assert greeted_holiday(CONFIG, date(2026, 10, 1)) == {"en": "National Day", "zh_CN": "国庆节"}
    assert greeted_holiday(CONFIG, date(2026, 10, 2)) is None
