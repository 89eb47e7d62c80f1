"""Staff are not customers: admins and agents who talked to the bot are left out of customer counts, segments,
exports, broadcasts and care messages — unless they wrote to the bot as a customer (a message that became a
ticket)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import select, update

from scheduler.jobs import checkin
from storage.csv_export import export_customers
from storage.models import Customer, OutboxMessage
from storage.reports import segment_counts
from storage.types import utcnow
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.staff_world import say, staff_world


async def test_staff_who_started_the_bot_are_not_counted_exported_greeted_or_broadcast_to(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    world = await staff_world(bot, tg)
    tara = tg.user(8201, "Tara", language_code="en")
    for user in (world.admin, world.agent, tara):
        await say(bot, tg, user, "/start")
        await say(bot, tg, user, "/whoami")
    settings = bot.services.settings

    async with bot.services.sessions() as session:
        assert (await segment_counts(session, admin_ids=settings.admin_ids))["potential"] == 1
        exported = (await export_customers(session, admin_ids=settings.admin_ids)).decode("utf-8-sig")
    assert [row["telegram_id"] for row in csv.DictReader(io.StringIO(exported))] == [str(tara.id)]
    ask = await say(bot, tg, world.admin, "/broadcast all", world.staff_chat)
    assert "1 customer can receive it" in ask.content
    await say(bot, tg, world.admin, "/cancel", world.staff_chat)
    await say(bot, tg, world.admin, "/stats", world.staff_chat)
    summary = next(m for m in tg.sent_to(world.staff_chat) if "The last 7 days" in m.content)
    assert "Customers: potential 1, new 0" in summary.content

    async with bot.services.sessions() as session, session.begin():  # a month without contact: check-in time
        long_ago = utcnow() - timedelta(days=60)
        await session.execute(update(Customer).values(created_at=long_ago, last_contact_at=long_ago))
    await checkin.plan(bot.services.sessions, settings, utcnow())
    async with bot.services.sessions() as session:
        greeted = list((await session.execute(select(OutboxMessage.chat_id))).scalars())
    assert greeted == [tara.id]


async def test_a_staff_member_who_writes_as_a_customer_counts_as_one(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    tg.customer_sends_text(world.agent, "I bought your tea for my mother, it arrived broken")
    await bot.deliver()
    card = next(m for m in tg.sent_to(world.staff_chat) if m.content.startswith("🎫 #1 "))
    assert "A staff member (agent) writing as a customer." in card.content
    ask = await say(bot, tg, world.admin, "/broadcast all", world.staff_chat)
    assert "1 customer can receive it" in ask.content
    async with bot.services.sessions() as session:
        assert (await segment_counts(session, admin_ids=bot.services.settings.admin_ids))["potential"] == 1
