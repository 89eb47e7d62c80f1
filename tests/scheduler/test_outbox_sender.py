"""The outbox sender: each planned message reaches its customer once, in their language, within Telegram's limits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from sqlmodel import select

from scheduler.config import CareConfig
from storage.db import SessionFactory, transaction
from storage.models import Coupon, Customer
from storage.outbox import PlannedMessage, enqueue_many, outbox_report
from tests.botapi import FakeTelegram
from tests.care_support import RecordedSleep, add_customer, fake_sender, outbox_rows
from tests.ids import ADMIN_ID, STAFF_CHAT_ID

NO_QUIET = CareConfig(quiet_hours="", rate_limits=False)


async def plan(sessions: SessionFactory, *messages: PlannedMessage) -> None:
    async with transaction(sessions) as session:
        await enqueue_many(session, messages=list(messages))


def greeting(customer: Customer, key: str = "", **extra: object) -> PlannedMessage:
    assert customer.id is not None
    return PlannedMessage(
        key=key or f"checkin:test:customer:{customer.id}",
        kind=str(extra.pop("kind", "checkin")),
        chat_id=customer.telegram_id,
        customer_id=customer.id,
        template=str(extra.pop("template", "care.checkin")),
        params=dict(extra.pop("params", {})),  # type: ignore[call-overload]
        capped=bool(extra.pop("capped", False)),
    )


async def test_a_greeting_arrives_in_the_customers_language_with_a_stop_button(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    zh, en = tg.user(701, "小红", language_code="zh-hans"), tg.user(702, "Mia")
    zh_customer = await add_customer(sessions, 701, first_name="小红", language="zh_CN")
    en_customer = await add_customer(sessions, 702, first_name="Mia <3", language="en")
    await plan(sessions, greeting(zh_customer), greeting(en_customer))
    async with fake_sender(tg, sessions) as sender:
        report = await sender.drain()
    assert report.sent == 2
    assert "小红，好久不见" in tg.last_sent(zh).content  # type: ignore[union-attr]
    assert tg.last_sent(zh).button_texts == ["🔕 不再接收此类消息"]  # type: ignore[union-attr]
    english = tg.last_sent(en)
    assert english is not None and english.content.startswith("👋 Hello Mia <3")
    assert "Mia &lt;3" in english.raw_text
    assert english.callback_data == ["care:stop"]
    rows = await outbox_rows(sessions)
    assert {row.status for row in rows} == {"sent"}
    assert all(row.sent_at and row.telegram_message_id for row in rows)


async def test_a_birthday_gift_code_is_issued_once_and_shown_in_the_greeting(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    user = tg.user(703, "Ana")
    customer = await add_customer(sessions, 703, first_name="Ana")
    gift = {"reason": "birthday", "value": "50", "currency": "CNY", "valid_days": 30}
    birthday = greeting(
        customer, "birthday:2026:customer:1", kind="birthday", template="care.birthday", params={"gift": gift}
    )
    with time_machine.travel(datetime(2026, 3, 1, 3, 0, tzinfo=UTC), tick=False):
        await plan(sessions, birthday)
        async with fake_sender(tg, sessions) as sender:
            await sender.drain()
            await sender.drain()
    async with sessions() as session:
        coupons = list((await session.execute(select(Coupon))).scalars())
    assert len(coupons) == 1
    coupon = coupons[0]
    assert coupon.customer_id == customer.id and coupon.value == Decimal("50.00")
    assert coupon.expires_at == datetime(2026, 3, 31, 3, 0, tzinfo=UTC)
    message = tg.last_sent(user)
    assert message is not None and len(tg.sent_to(user)) == 1
    assert "Happy birthday, Ana!" in message.content
    assert coupon.code in message.content and "CN¥50.00" in message.content and "Mar 31, 2026" in message.content


async def test_a_sender_killed_mid_run_never_sends_a_message_twice(tg: FakeTelegram, sessions: SessionFactory) -> None:
    users = [tg.user(710 + n, f"U{n}") for n in range(3)]
    customers = [await add_customer(sessions, 710 + n) for n in range(3)]
    await plan(sessions, *(greeting(c) for c in customers))
    tg.delay_next("sendMessage", 30)  # the first send hangs: the process dies while it is in flight
    async with fake_sender(tg, sessions) as sender:
        run = asyncio.create_task(sender.drain())
        await tg.wait_for(lambda: len(tg.sent_to(users[1])) + len(tg.sent_to(users[2])) == 2)
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    sending = await outbox_rows(sessions, status="sending")
    assert len(sending) == 3  # the batch was claimed; whether each went out is unknown: never picked up again

    async with fake_sender(tg, sessions) as restarted:
        report = await restarted.drain()
    assert report.sent == 0
    assert all(len(tg.sent_to(user)) <= 1 for user in users)
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=11)):
        async with sessions() as session:
            stuck = await outbox_report(session)
    assert stuck.stuck_count == 3 and stuck.counts["sending"] == 3
    assert {row.key for row in stuck.stuck} == {row.key for row in sending}


async def test_too_many_requests_pauses_for_retry_after_then_sends_once(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    user = tg.user(720, "Leo")
    customer = await add_customer(sessions, 720)
    await plan(sessions, greeting(customer))
    tg.fail_next("sendMessage", status=429, retry_after=7)
    sleep = RecordedSleep()
    async with fake_sender(tg, sessions, sleep=sleep) as sender:
        report = await sender.drain()
    assert sleep.calls == [pytest.approx(7.0, abs=0.1)]
    assert report.sent == 1 and len(tg.sent_to(user)) == 1
    assert [call.ok for call in tg.calls_to("sendMessage")] == [False, True]
    (row,) = await outbox_rows(sessions)
    assert row.status == "sent" and row.attempts == 1


async def test_server_errors_are_retried_with_backoff_then_fail_with_the_reason(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    tg.user(721, "Kim")
    customer = await add_customer(sessions, 721)
    await plan(sessions, greeting(customer))
    tg.fail_next("sendMessage", status=502, times=3)
    sleep = RecordedSleep()
    config = CareConfig(quiet_hours="", rate_limits=False, send_max_attempts=3)
    async with fake_sender(tg, sessions, config, sleep=sleep) as sender:
        report = await sender.drain()
    assert report.failed == 1 and sleep.calls == [1.0, 2.0]
    (row,) = await outbox_rows(sessions)
    assert row.status == "failed" and row.attempts == 3 and "Bad Gateway" in (row.last_error or "")

    tg.fail_next("sendMessage", status=500, times=1)
    await plan(sessions, greeting(customer, "checkin:again"))
    async with fake_sender(tg, sessions, config, sleep=RecordedSleep()) as sender:
        assert (await sender.drain()).sent == 1


async def test_a_customer_who_blocked_the_bot_is_marked_unreachable_and_later_rows_are_skipped(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    user = tg.user(730, "Bo")
    customer = await add_customer(sessions, 730)
    tg.block_bot(user, notify_bot=False)
    await plan(sessions, greeting(customer))
    later = greeting(customer, "nps:later")
    async with transaction(sessions) as session:
        await enqueue_many(session, messages=[later])
    async with fake_sender(tg, sessions) as sender:
        report = await sender.drain()
    assert len(tg.calls_to("sendMessage")) == 1  # the second row was not even tried
    assert report.sent == 0 and report.skipped == 2
    rows = await outbox_rows(sessions)
    assert [row.status for row in rows] == ["skipped", "skipped"]
    assert "blocked" in (rows[0].last_error or "")
    async with sessions() as session:
        stored = await session.get(Customer, customer.id)
    assert stored is not None and stored.unreachable


async def test_quiet_hours_hold_a_greeting_until_morning_in_the_customers_time_zone(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    night_owl = tg.user(740, "Ivy")
    berlin = await add_customer(sessions, 740, timezone="Europe/Berlin")
    shanghai_user = tg.user(741, "Wu")
    shanghai = await add_customer(sessions, 741)  # no zone of their own: the business's (Asia/Shanghai)
    config = CareConfig(quiet_hours="21:00-09:00", rate_limits=False)
    # 22:30 in Berlin (CEST) is 04:30 the next morning in Shanghai
    with time_machine.travel(datetime(2026, 6, 1, 20, 30, tzinfo=UTC), tick=False):
        await plan(sessions, greeting(berlin), greeting(shanghai))
        async with fake_sender(tg, sessions, config) as sender:
            report = await sender.drain()
    assert report.held == 2 and tg.sent_to(night_owl) == [] and tg.sent_to(shanghai_user) == []
    rows = {row.customer_id: row for row in await outbox_rows(sessions)}
    assert rows[berlin.id].not_before == datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # 09:00 Berlin
    assert rows[shanghai.id].not_before == datetime(2026, 6, 2, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    with time_machine.travel(datetime(2026, 6, 2, 1, 0, tzinfo=UTC), tick=False):
        async with fake_sender(tg, sessions, config) as sender:
            await sender.drain()
    assert tg.sent_to(night_owl) == [] and len(tg.sent_to(shanghai_user)) == 1
    with time_machine.travel(datetime(2026, 6, 2, 7, 0, tzinfo=UTC), tick=False):
        async with fake_sender(tg, sessions, config) as sender:
            await sender.drain()
    assert len(tg.sent_to(night_owl)) == 1


async def test_the_weekly_cap_skips_a_third_capped_message_but_not_a_birthday(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    user = tg.user(750, "Max")
    customer = await add_customer(sessions, 750)
    capped = [greeting(customer, f"holiday:{n}", kind="holiday", capped=True) for n in range(3)]
    birthday = greeting(customer, "birthday:x", kind="birthday", template="care.birthday")
    await plan(sessions, *capped, birthday)
    async with fake_sender(tg, sessions) as sender:
        report = await sender.drain()
    assert report.sent == 3 and report.skipped == 1
    assert len(tg.sent_to(user)) == 3
    skipped = await outbox_rows(sessions, status="skipped")
    assert [row.key for row in skipped] == ["holiday:2"] and skipped[0].last_error == "weekly cap reached"

    with time_machine.travel(datetime.now(UTC) + timedelta(days=8)):
        await plan(sessions, greeting(customer, "holiday:next-week", kind="holiday", capped=True))
        async with fake_sender(tg, sessions) as sender:
            assert (await sender.drain()).sent == 1


async def test_an_opted_out_customer_is_skipped_but_still_told_about_their_ticket(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    user = tg.user(760, "Zoe")
    customer = await add_customer(sessions, 760, proactive_opt_out=True)
    notice = greeting(customer, "autoclose:ticket:5", kind="autoclose", template="care.autoclose", params={"number": 5})
    await plan(sessions, greeting(customer), notice)
    async with fake_sender(tg, sessions) as sender:
        report = await sender.drain()
    assert report.sent == 1 and report.skipped == 1
    (told,) = tg.sent_to(user)
    assert "Ticket #5 is now closed" in told.content and told.buttons == []
    (skipped,) = await outbox_rows(sessions, status="skipped")
    assert skipped.kind == "checkin" and skipped.last_error == "opted out"


async def test_a_broadcast_is_copied_with_its_media_and_the_stop_button(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    staff = tg.group(STAFF_CHAT_ID, "Staff")
    admin = tg.user(ADMIN_ID, "Admin")
    photo = tg.sends_photo(admin, caption="Spring sale!", chat=staff)
    user = tg.user(770, "Ray")
    customer = await add_customer(sessions, 770)
    broadcast = greeting(
        customer,
        "broadcast:1:customer:1",
        kind="broadcast",
        capped=True,
        params={"copy_from": {"chat_id": staff.id, "message_id": photo.message_id}},
    )
    await plan(sessions, broadcast)
    async with fake_sender(tg, sessions) as sender:
        assert (await sender.drain()).sent == 1
    copy = tg.last_sent(user)
    assert copy is not None and copy.media_type == "photo" and copy.caption == "Spring sale!"
    assert copy.callback_data == ["care:stop"]


async def test_with_limits_on_no_chat_gets_two_messages_within_a_second(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    user = tg.user(780, "Ned")
    customer = await add_customer(sessions, 780)
    await plan(sessions, *(greeting(customer, f"checkin:{n}") for n in range(3)))
    config = CareConfig(quiet_hours="", rate_limits=True, send_rate=30, max_proactive_per_week=10)
    async with fake_sender(tg, sessions, config) as sender:
        await sender.drain()
    assert len(tg.sent_to(user)) == 3
    assert tg.max_per_window(user, 0.99) == 1
