"""A customer sending 100 messages in 10 seconds: every text is kept and reaches staff once, in order; the bot
answers a handful of times, and Telegram's limit of one message a second per chat holds throughout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import col, select

from bot.settings import Settings
from storage import faq
from storage.db import transaction
from storage.faq import parse_faq_file
from storage.models import Ticket, TicketMessage
from tests.botapi import FakeTelegram, FakeUser
from tests.harness import BotHarness, texts_staff_see
from tests.ids import ADMIN_ID, STAFF_CHAT_ID

DELIVERY = "How long does delivery take?"
RETURNS = "Can I return an item?"
FAQ = f"""
- category: order
  language: en
  questions: ["{DELIVERY}"]
  answer: "Usually 3-5 working days."
- category: aftersale
  language: en
  questions: ["{RETURNS}"]
  answer: "Yes, within 14 days."
"""
UNSUPPORTED = "Sorry, I can't pass this kind of message on. Please send text, a photo, a video, a voice message, a file, a location or a contact."
UNKNOWN_COMMAND = "I don't know that command. Try /start for the menu, /profile for your details or /help."
POLL = {
    "id": "poll-1",
    "question": "Which colour?",
    "options": [{"text": "red", "voter_count": 0}, {"text": "blue", "voter_count": 0}],
    "total_voter_count": 0,
    "is_closed": False,
    "is_anonymous": True,
    "type": "regular",
    "allows_multiple_answers": False,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Telegram's limits kept by the bot, as in production."""
    return settings.model_copy(update={"default_language": "en", "rate_limits": "on"})


@pytest.fixture
async def stocked(bot: BotHarness) -> BotHarness:
    async with transaction(bot.services.sessions) as session:
        await faq.import_entries(session, entries=parse_faq_file("faq.yaml", FAQ.encode()))
    return bot


def text_of(n: int) -> str:
    """The customer's n-th text: FAQ questions at first, then a flood of others with now and then an FAQ one."""
    if n in (0, 2):
        return DELIVERY
    if n == 1 or n % 10 == 5:
        return RETURNS
    return f"{n}: where is my parcel?"


def dice(tg: FakeTelegram, user: FakeUser, emoji: str) -> None:
    tg._user_message(user, None, {"dice": {"emoji": emoji, "value": 3}})


async def ticket_texts(bot: BotHarness) -> list[str | None]:
    async with bot.services.sessions() as session:
        (ticket,) = (await session.execute(select(Ticket))).scalars()
        rows = await session.execute(
            select(TicketMessage).where(col(TicketMessage.ticket_id) == ticket.id).order_by(col(TicketMessage.id))
        )
        return [message.text for message in rows.scalars()]


async def test_a_hundred_messages_in_ten_seconds_are_all_kept_and_relayed_and_answered_a_handful_of_times(
    stocked: BotHarness, tg: FakeTelegram, no_handler_errors: object
) -> None:
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[tg.user(ADMIN_ID, "Alice")])
    anna = tg.user(7001, "Anna", language_code="en")
    tg.set_flood_limits(per_chat=(1, 1.0))  # like Telegram: a second message within a second to a chat is a 429
    start = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        for n in range(100):
            tg.customer_sends_text(anna, text_of(n))
            if n == 0:
                dice(tg, anna, "🎲")
            elif n in (20, 60):
                tg.sends_command(anna, f"/frobnicate{n}")
            elif n == 40:
                tg._user_message(anna, None, {"poll": POLL})
            elif n == 80:
                dice(tg, anna, "🎯")
            clock.shift(timedelta(seconds=0.1))
        assert tg.chat(anna).last_message_id == 105
        await stocked.deliver()

        received = [m.content for m in tg.sent_to(anna)]
        assert received == [
            "Usually 3-5 working days.",  # the first two questions the FAQ knows are answered
            UNSUPPORTED,  # the dice: said once
            "Yes, within 14 days.",
            # Three automatic replies within a minute: the delivery question again goes to a person.
            "Thank you! Your request is ticket #1. A person from our team will answer you right here.\n"
            "We usually answer within an hour.",
        ]
        kept = [text_of(n) for n in range(2, 100)]
        assert await ticket_texts(stocked) == kept  # everything but the two answered questions, in order
        assert texts_staff_see(tg, staff) == kept  # once each, in order

        clock.shift(timedelta(minutes=1))  # a minute later the bot speaks again
        dice(tg, anna, "🎳")
        tg.sends_command(anna, "/frobnicate")
        await stocked.deliver()
        assert [m.content for m in tg.sent_to(anna)][len(received) :] == [UNSUPPORTED, UNKNOWN_COMMAND]

    assert [call for call in tg.calls if not call.ok] == []  # no 429, nor any other refusal
    assert tg.max_per_window(anna, 1.0) == 1 and tg.max_per_window(staff, 1.0) == 1
