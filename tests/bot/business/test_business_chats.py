"""Telegram Business end to end through the fake Bot API: a business account connects the bot, its customers write
there, Carebot answers as the business, staff answer tickets through the connection, the owner answers by hand."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.settings import Settings
from storage import faq
from storage.db import transaction
from storage.faq import parse_faq_file
from storage.models import BusinessChat, BusinessConnection, Customer, Ticket, TicketMessage
from tests.botapi import FakeChat, FakeMessage, FakeTelegram, FakeUser
from tests.harness import BotHarness

FAQ = """
- category: order
  language: en
  questions: ["How long does delivery take?"]
  answer: "Usually 3 to 5 working days."
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en"})


@pytest.fixture
async def shop(bot: BotHarness, tg: FakeTelegram, admin: FakeUser, staff: FakeChat) -> str:
    """The admin's own Telegram account is the shop's: it connects the bot, which may reply."""
    async with transaction(bot.services.sessions) as session:
        await faq.import_entries(session, entries=parse_faq_file("faq.yaml", FAQ.encode()))
    connection = tg.connect_business(admin)
    await bot.deliver()
    return connection


@pytest.fixture
def bea(tg: FakeTelegram) -> FakeUser:
    """A customer who writes to the shop's account and never started the bot."""
    return tg.user(7101, "Bea", language_code="en", started=False)


def card_of(tg: FakeTelegram, staff: FakeChat, number: int) -> FakeMessage:
    cards = [m for m in tg.sent_to(staff) if m.content.startswith(f"🎫 #{number} ")]
    assert len(cards) == 1, [m.content for m in tg.sent_to(staff)]
    return cards[0]


async def stored(bot: BotHarness, model: type) -> list:  # type: ignore[type-arg]
    async with bot.services.sessions() as session:
        return list((await session.execute(select(model))).scalars())


async def test_a_faq_question_to_the_business_account_is_answered_as_the_business(
    shop: str, bot: BotHarness, tg: FakeTelegram, bea: FakeUser, staff: FakeChat
) -> None:
    tg.writes_to_business(bea, shop, "how long does delivery take")
    await bot.deliver()

    (answer,) = tg.sent_in_business(shop, bea)
    assert answer.content == "Usually 3 to 5 working days." and answer.params["business_connection_id"] == shop
    assert tg.sent_to(bea) == [] and tg.sent_to(staff) == []  # nothing in the bot chat, no ticket
    (connection,) = await stored(bot, BusinessConnection)
    assert connection.enabled and connection.can_reply


async def test_a_question_becomes_a_ticket_and_staff_answers_reach_the_business_chat(
    shop: str, bot: BotHarness, tg: FakeTelegram, bea: FakeUser, staff: FakeChat, admin: FakeUser
) -> None:
    tg.writes_to_business(bea, shop, "Can you engrave my name on the watch?")
    await bot.deliver()

    (ack,) = tg.sent_in_business(shop, bea)
    assert "ticket #1" in ack.content and ack.params["business_connection_id"] == shop
    card = card_of(tg, staff, 1)
    assert "via business account" in card.content
    shown = [m for m in tg.sent_to(staff) if "Can you engrave my name on the watch?" in m.content]
    assert shown == [card] and card.content.endswith("\n\nCan you engrave my name on the watch?")

    staff_reply = tg.group_message(admin, staff, "Yes, up to 12 letters.", reply_to=card)
    tg.sends_photo(admin, caption="Like this one", chat=staff, reply_to=card)
    await bot.deliver()

    text, photo = tg.sent_in_business(shop, bea)[1:]
    assert text.content == "Yes, up to 12 letters." and text.params["business_connection_id"] == shop
    assert photo.media_type == "photo" and photo.caption == "Like this one"
    assert photo.params["business_connection_id"] == shop
    assert tg.sent_to(bea) == []
    (ticket,) = await stored(bot, Ticket)
    assert ticket.status == "pending"

    tg.edits_message(admin, staff_reply, "Yes, up to 14 letters.")
    await bot.deliver()
    assert text.content == "Yes, up to 14 letters."
    (edit,) = tg.calls_to("editMessageText")[-1:]
    assert edit.params["business_connection_id"] == shop


async def test_the_owner_answering_by_hand_is_recorded_and_nothing_is_relayed(
    shop: str, bot: BotHarness, tg: FakeTelegram, bea: FakeUser, staff: FakeChat, admin: FakeUser
) -> None:
    tg.writes_to_business(bea, shop, "Is the blue one in stock?")
    await bot.deliver()
    before_staff, before_business = len(tg.sent_to(staff)), len(tg.sent_in_business(shop, bea))

    tg.owner_writes(shop, bea, "Yes, two left!")
    tg.writes_to_business(bea, shop, "Great, I'll take one")
    await bot.deliver()

    assert len(tg.sent_in_business(shop, bea)) == before_business  # no acknowledgement after a human answered
    messages = await stored(bot, TicketMessage)
    assert [(m.direction, m.text) for m in messages] == [
        ("in", "Is the blue one in stock?"),
        ("out", "Yes, two left!"),
        ("in", "Great, I'll take one"),
    ]
    assert messages[1].author_telegram_id == admin.id and messages[1].staff_message_id is None
    relayed = [m.content for m in tg.sent_to(staff)[before_staff:] if not m.edited]
    assert relayed == ["Great, I'll take one"]  # the owner's answer is not copied anywhere
    (ticket,) = await stored(bot, Ticket)
    assert ticket.first_response_at is not None


async def test_a_disabled_connection_sends_nothing_and_the_admins_are_told_once(
    shop: str, bot: BotHarness, tg: FakeTelegram, bea: FakeUser, staff: FakeChat, admin: FakeUser
) -> None:
    tg.writes_to_business(bea, shop, "Can you engrave my name?")
    await bot.deliver()
    card = card_of(tg, staff, 1)
    tg.change_business(shop, enabled=False)
    tg.change_business(shop, enabled=False)
    await bot.deliver()
    told = [m for m in tg.sent_to(admin) if "disabled or removed" in m.content]
    assert len(told) == 1
    assert "the connection is disabled" in card_of(tg, staff, 1).content

    sent = len(tg.sent_in_business(shop, bea))
    tg.group_message(admin, staff, "Sure!", reply_to=card)
    await bot.deliver()
    assert len(tg.sent_in_business(shop, bea)) == sent
    assert not [c for c in tg.calls_to("sendMessage") if c.params.get("business_connection_id") and not c.ok]
    assert "Answer the customer from the Telegram app" in tg.sent_to(staff)[-1].content


async def test_without_the_right_to_reply_or_after_24_hours_the_card_says_to_answer_from_the_app(
    bot: BotHarness, tg: FakeTelegram, bea: FakeUser, staff: FakeChat, admin: FakeUser
) -> None:
    shop = tg.connect_business(admin, can_reply=False)
    await bot.deliver()
    tg.writes_to_business(bea, shop, "Hello, anyone there?")
    await bot.deliver()
    assert tg.sent_in_business(shop, bea) == []
    card = card_of(tg, staff, 1)
    assert "the owner did not let the bot reply" in card.content

    tg.change_business(shop, can_reply=True)
    tg.age_business_chat(shop, bea, hours=25)
    await bot.deliver()
    async with transaction(bot.services.sessions) as session:  # Carebot's clock of the window, too
        chat = (await session.execute(select(BusinessChat))).scalar_one()
        assert chat.last_customer_message_at is not None
        chat.last_customer_message_at -= timedelta(hours=25)
        session.add(chat)
    tg.group_message(admin, staff, "Sorry for the wait", reply_to=card)
    await bot.deliver()
    assert tg.sent_in_business(shop, bea) == []
    assert "the customer has not written in the last 24 hours" in card_of(tg, staff, 1).content


async def test_a_strangers_connection_is_recorded_and_ignored(
    bot: BotHarness, tg: FakeTelegram, bea: FakeUser, staff: FakeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.business.connections")
    stranger = tg.user(7999, "Sam")
    other_shop = tg.connect_business(stranger)
    await bot.deliver()
    tg.writes_to_business(bea, other_shop, "how long does delivery take")
    tg.writes_to_business(bea, other_shop, "hello?")
    await bot.deliver()

    assert tg.sent_in_business(other_shop, bea) == [] and tg.sent_to(staff) == []
    assert await stored(bot, Ticket) == [] and await stored(bot, Customer) == []
    (connection,) = await stored(bot, BusinessConnection)
    assert connection.owner_telegram_id == stranger.id
    assert sum("not staff" in record.getMessage() for record in caplog.records) == 1


async def test_a_customer_of_the_business_chat_and_the_bot_is_one_customer(
    shop: str, bot: BotHarness, tg: FakeTelegram, staff: FakeChat, admin: FakeUser
) -> None:
    cleo = tg.user(7201, "Cleo", language_code="en")
    tg.customer_sends_text(cleo, "Hi bot, my parcel is late")  # message 1 of the bot chat
    tg.writes_to_business(cleo, shop, "Hi shop, about my parcel")  # message 1 of the business chat
    await bot.deliver()

    (customer,) = await stored(bot, Customer)
    assert customer.telegram_id == cleo.id
    (ticket,) = await stored(bot, Ticket)
    messages = await stored(bot, TicketMessage)
    assert sorted(m.text or "" for m in messages) == ["Hi bot, my parcel is late", "Hi shop, about my parcel"]
    # The answer goes where the customer wrote last: the business chat.
    tg.group_message(admin, staff, "On its way!", reply_to=card_of(tg, staff, ticket.id or 0))
    await bot.deliver()
    assert tg.sent_in_business(shop, cleo)[-1].content == "On its way!"


async def test_deleted_business_messages_are_erased_and_the_card_shows_it(
    shop: str, bot: BotHarness, tg: FakeTelegram, bea: FakeUser, staff: FakeChat
) -> None:
    first = tg.writes_to_business(bea, shop, "My address is 1 Secret Lane")
    await bot.deliver()
    async with transaction(bot.services.sessions) as session:  # a survey to her bot chat bounced: she never started it
        customer = (await session.execute(select(Customer))).scalar_one()
        customer.unreachable = True
        session.add(customer)
    tg.deletes_business_messages(shop, bea, first)
    await bot.deliver()

    (message,) = await stored(bot, TicketMessage)
    assert message.text is None and message.deleted_at is not None
    card = card_of(tg, staff, 1).content
    assert "1 message deleted by the customer" in card
    assert "blocked the bot" not in card  # answers go to the business chat all the same


async def test_with_business_replies_tickets_nothing_automatic_is_sent(
    bot: BotHarness, tg: FakeTelegram, bea: FakeUser, staff: FakeChat, admin: FakeUser
) -> None:
    bot.services.settings.business_replies = "tickets"
    shop = tg.connect_business(admin)
    await bot.deliver()
    tg.writes_to_business(bea, shop, "Hello there")
    await bot.deliver()
    assert tg.sent_in_business(shop, bea) == []
    card_of(tg, staff, 1)


async def test_admins_see_the_connections_with_business(
    shop: str, bot: BotHarness, tg: FakeTelegram, bea: FakeUser, admin: FakeUser
) -> None:
    stranger_shop = tg.connect_business(tg.user(7999, "Sam"))
    tg.writes_to_business(bea, shop, "Hello")
    await bot.deliver()
    tg.sends_command(admin, "/business")
    await bot.deliver()

    listing = tg.sent_to(admin)[-1].content
    assert listing.startswith("Business connections (2)")
    lines = listing.splitlines()[1:]  # newest connection first: both came in the same batch, in either order
    (mine,) = [line for line in lines if f"owner {admin.id}:" in line]
    (theirs,) = [line for line in lines if "owner 7999:" in line]
    assert f"owner {admin.id}: ✅ in use; may reply: yes; chats served: 1" in mine
    assert "owner 7999: 🚫 ignored (the owner is not staff here); may reply: yes; chats served: 0" in theirs
    assert stranger_shop != shop
