"""The common cases, many customers writing at once to their open tickets or for the first time: every text stored
once and in order, shown to staff once and in order, each new ticket acknowledged once, and each update marked
handled together with what it stored."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select
from telegram import Update
from telegram.ext import MessageHandler, filters

from bot.settings import Settings
from storage import faq, inbox
from storage.db import transaction
from storage.models import Customer, InboxUpdate, Ticket, TicketMessage
from tests.botapi import FakeChat, FakeTelegram, FakeUser
from tests.harness import BotHarness, texts_staff_see
from tests.ids import ADMIN_ID, STAFF_CHAT_ID


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en"})


@pytest.fixture
def staff(tg: FakeTelegram) -> FakeChat:
    return tg.group(STAFF_CHAT_ID, "Care team", members=[tg.user(ADMIN_ID, "Alice")])


async def with_open_tickets(bot: BotHarness, tg: FakeTelegram, count: int) -> list[FakeUser]:
    customers = [tg.user(7100 + n, f"Customer {n}", language_code="en") for n in range(count)]
    for customer in customers:
        tg.customer_sends_text(customer, f"{customer.first_name}: hello")
    await bot.deliver()
    return customers


async def texts_by_customer(bot: BotHarness) -> dict[int, list[str | None]]:
    async with bot.services.sessions() as session:
        rows = await session.execute(
            select(TicketMessage).where(col(TicketMessage.direction) == "in").order_by(col(TicketMessage.id))
        )
        found: dict[int, list[str | None]] = {}
        for message in rows.scalars():
            found.setdefault(message.author_telegram_id or 0, []).append(message.text)
        return found


async def unhandled_updates(bot: BotHarness) -> list[int]:
    async with bot.services.sessions() as session:
        rows = await session.execute(select(InboxUpdate).where(col(InboxUpdate.processed_at).is_(None)))
        return [row.update_id for row in rows.scalars()]


async def test_many_customers_writing_to_open_tickets_at_once_are_stored_and_shown_once_in_order(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, caplog: pytest.LogCaptureFixture
) -> None:
    customers = await with_open_tickets(bot, tg, 5)
    customers[2].first_name = "Renamed"  # touched on the way: the record follows Telegram
    for n in range(6):
        for customer in customers:
            if n == 3 and customer is customers[1]:
                tg.sends_photo(customer, caption="a photo in between")
            tg.customer_sends_text(customer, f"{customer.id} text {n}")
    await bot.deliver()

    stored = await texts_by_customer(bot)
    shown = texts_staff_see(tg, staff)
    for customer in customers:
        mine = [f"{customer.id} text {n}" for n in range(6)]
        if customer is customers[1]:
            mine.insert(3, "a photo in between")
        assert stored[customer.id][1:] == mine
        assert [text for text in shown if text.startswith(f"{customer.id} ")] == [t for t in mine if t[0] != "a"]
    photos = [m for m in tg.sent_to(staff) if m.copied_from and m.media_type == "photo"]
    assert [p.caption for p in photos] == ["a photo in between"]
    assert [len(tg.sent_to(customer)) for customer in customers] == [1] * 5  # the first acknowledgement only
    assert await unhandled_updates(bot) == []
    assert not [r for r in caplog.records if r.name in ("bot.runtime.updates", "bot.runtime.dispatch")], (
        "the fast lane failed: handlers took over"
    )
    async with bot.services.sessions() as session:
        renamed = (await session.execute(select(Customer).where(col(Customer.telegram_id) == 7102))).scalar_one()
    assert renamed.first_name == "Renamed"


async def test_a_reply_a_dialog_waits_for_is_not_filed_into_the_open_ticket(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat
) -> None:
    (anna,) = await with_open_tickets(bot, tg, 1)
    tg.sends_command(anna, "/profile")
    await bot.deliver()
    tg.presses_button(anna, tg.last_sent(anna), "profile:timezone")  # type: ignore[arg-type]
    await bot.deliver()
    tg.customer_sends_text(anna, "Europe/Berlin")
    tg.customer_sends_text(anna, "and one more thing")
    await bot.deliver()

    assert (await texts_by_customer(bot))[anna.id] == ["Customer 0: hello", "and one more thing"]
    async with bot.services.sessions() as session:
        customer = (await session.execute(select(Customer).where(col(Customer.telegram_id) == anna.id))).scalar_one()
    assert customer.timezone == "Europe/Berlin"
    assert texts_staff_see(tg, staff) == ["Customer 0: hello", "and one more thing"]


async def test_when_storing_a_batch_fails_the_handlers_take_each_text_and_none_is_doubled(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = await with_open_tickets(bot, tg, 3)
    failures = 0
    mark = inbox.mark_many_processed

    async def failing_once(*args: object, **kwargs: object) -> None:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise OperationalError("UPDATE inbox_updates", {}, Exception("the database went away"))
        await mark(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(inbox, "mark_many_processed", failing_once)
    for n in range(4):
        for customer in customers:
            tg.customer_sends_text(customer, f"{customer.id} text {n}")
    await bot.deliver()

    assert failures == 1  # the batch was stored in one go: it failed as a whole
    stored = await texts_by_customer(bot)
    for customer in customers:
        mine = [f"{customer.id} text {n}" for n in range(4)]
        assert stored[customer.id][1:] == mine
        assert [text for text in texts_staff_see(tg, staff) if text.startswith(f"{customer.id} ")] == mine
    assert await unhandled_updates(bot) == []


async def test_a_handler_added_for_customer_texts_still_sees_texts_to_open_tickets(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat
) -> None:
    seen: list[str] = []

    async def spy(update: Update, _context: object) -> None:
        assert update.message is not None and update.message.text is not None
        seen.append(update.message.text)

    bot.app.add_handler(MessageHandler(filters.TEXT & filters.ChatType.PRIVATE, spy), group=5)
    (customer,) = await with_open_tickets(bot, tg, 1)
    for n in range(3):
        tg.customer_sends_text(customer, f"more {n}")
    await bot.deliver()

    assert seen == [f"{customer.first_name}: hello", "more 0", "more 1", "more 2"]
    assert (await texts_by_customer(bot))[customer.id] == seen  # and the ticket still has them all, once


async def test_new_customers_writing_at_once_each_get_one_ticket_acknowledged_and_shown_to_staff(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, caplog: pytest.LogCaptureFixture
) -> None:
    """First texts of customers nobody knew yet go in one batch: each a customer, a ticket, one acknowledgement."""
    languages = {7201: "en", 7202: "zh-hans", 7203: "pt-br"}
    newcomers = [
        tg.user(telegram_id, f"New {telegram_id}", language_code=code) for telegram_id, code in languages.items()
    ]
    for n in range(3):
        for customer in newcomers:
            tg.customer_sends_text(customer, f"{customer.id} first {n}")
    await bot.deliver()

    stored = await texts_by_customer(bot)
    shown = texts_staff_see(tg, staff)
    cards = [m.text for m in tg.sent_to(staff) if m.text and m.text.startswith("🎫")]
    numbers = set()
    for customer in newcomers:
        mine = [f"{customer.id} first {n}" for n in range(3)]
        assert stored[customer.id] == mine
        assert [text for text in shown if text.startswith(f"{customer.id} ")] == mine
        (ack,) = tg.sent_to(customer)
        numbers.add(ack.content.split("#", 1)[1][:2])
    assert len(numbers) == 3 and len(cards) == 3
    async with bot.services.sessions() as session:
        people = {
            c.telegram_id: c
            for c in (await session.execute(select(Customer).where(col(Customer.telegram_id).in_(languages)))).scalars()
        }
        tickets = list((await session.execute(select(Ticket).order_by(col(Ticket.id)))).scalars())
    assert {telegram_id: c.language for telegram_id, c in people.items()} == {7201: "en", 7202: "zh_CN", 7203: "en"}
    assert all(c.segment == "potential" and c.consent_at and c.last_contact_at for c in people.values())
    assert [t.status for t in tickets] == ["open"] * 3 and all(t.waiting_since for t in tickets)
    assert "您的请求已登记为工单" in tg.sent_to(newcomers[1])[0].content  # in the customer's language
    assert await unhandled_updates(bot) == []
    assert not [r for r in caplog.records if r.name in ("bot.runtime.updates", "bot.runtime.dispatch")], (
        "the fast lane failed: handlers took over"
    )


async def test_a_first_question_the_faq_knows_is_answered_by_the_faq_and_opens_no_ticket(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat
) -> None:
    async with transaction(bot.services.sessions) as session:
        await faq.add_entry(
            session,
            entry=faq.NewEntry(
                language="en", category="order", questions=("Where is my order?",), answer="In the mail."
            ),
        )
    asking = tg.user(7301, "Asking", language_code="en")
    chinese = tg.user(7302, "Chinese", language_code="zh-hans")  # no FAQ entries in Chinese: a ticket
    tg.customer_sends_text(asking, "Where is my order?")
    tg.customer_sends_text(chinese, "Where is my order?")
    await bot.deliver()

    assert "In the mail." in tg.sent_to(asking)[0].content
    assert (await texts_by_customer(bot)) == {chinese.id: ["Where is my order?"]}
    assert len(tg.sent_to(chinese)) == 1 and "#1" in tg.sent_to(chinese)[0].content
