"""A staff member who answers with an album (several photos sent together) reaches the customer with one album."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select
from telegram import Chat, Message, PhotoSize

from bot.settings import Settings
from bot.tickets.albums import AlbumCollector, AlbumPart, album_part
from storage.models import Ticket, TicketMessage
from tests.botapi import FakeChat, FakeMessage, FakeTelegram, FakeUser
from tests.harness import BotHarness
from tests.ids import STAFF_CHAT_ID

CAPTIONS = ["front", None, "and the <label>"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en"})


@pytest.fixture
def anna(tg: FakeTelegram) -> FakeUser:
    return tg.user(7501, "Anna", language_code="en")


async def stored_replies(bot: BotHarness) -> list[TicketMessage]:
    async with bot.services.sessions() as session:
        query = select(TicketMessage).where(col(TicketMessage.direction) == "out").order_by(col(TicketMessage.id))
        return list((await session.execute(query)).scalars())


def assert_one_album_reached(tg: FakeTelegram, anna: FakeUser, album: list[FakeMessage]) -> list[FakeMessage]:
    to_anna = [call for call in tg.calls_to("sendMediaGroup") if str(call.params["chat_id"]) == str(anna.id)]
    assert len(to_anna) == 1 and len(to_anna[0].params["media"]) == 3
    parts = {m.message_id for m in album}
    assert not [call for call in tg.calls_to("copyMessage") if call.params.get("message_id") in parts]
    received = [m for m in tg.sent_to(anna) if m.media_type == "photo"]
    assert len(received) == 3 and len({m.media_group_id for m in received}) == 1
    assert [m.caption for m in received] == CAPTIONS
    assert [m.file_id for m in received] == [m.file_id for m in album]  # the staff member's own files, not uploads
    return received


async def test_a_staff_album_reaches_the_customer_as_one_album(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser, admin: FakeUser
) -> None:
    tg.customer_sends_text(anna, "What does it look like?")
    await bot.deliver()
    card = next(m for m in tg.sent_to(staff) if m.content.startswith("🎫 #1 "))
    album = tg.sends_album(admin, 3, chat=staff, captions=CAPTIONS, reply_to=card)
    tg.group_message(admin, staff, "Those are all the photos we have.", reply_to=card)
    await bot.deliver()
    received = assert_one_album_reached(tg, anna, album)
    text = tg.last_sent(anna)  # sent after the album, it arrives after it
    assert text is not None and text.content == "Those are all the photos we have."
    assert max(m.message_id for m in received) < text.message_id
    replies = await stored_replies(bot)
    assert [(r.staff_message_id, r.customer_message_id) for r in replies[:3]] == [
        (sent.message_id, copy.message_id) for sent, copy in zip(album, received, strict=True)
    ]
    assert [r.kind for r in replies] == ["photo", "photo", "photo", "text"]


async def test_a_staff_album_in_the_tickets_forum_topic_reaches_the_customer_as_one_album(
    bot: BotHarness, tg: FakeTelegram, admin: FakeUser, anna: FakeUser
) -> None:
    forum = tg.group(STAFF_CHAT_ID, "Care team", forum=True, members=[admin])
    tg.customer_sends_text(anna, "Can I see it?")
    await bot.deliver()
    async with bot.services.sessions() as session:
        ticket = await session.get(Ticket, 1)
    assert ticket is not None and ticket.staff_thread_id is not None
    album = tg.sends_album(admin, 3, chat=forum, captions=CAPTIONS, thread_id=ticket.staff_thread_id)
    await bot.deliver()
    assert_one_album_reached(tg, anna, album)


def part(message_id: int, group: str = "g1", chat_id: int = STAFF_CHAT_ID) -> Message:
    return Message(
        message_id,
        datetime.now(UTC),
        Chat(chat_id, "supergroup"),
        media_group_id=group,
        photo=(PhotoSize(f"file-{message_id}", f"unique-{message_id}", 90, 90),),
        caption=f"part {message_id}",
    )


async def test_the_collector_hands_each_album_over_once_in_order_after_its_last_part() -> None:
    handed: list[list[int]] = []

    async def deliver(parts: list[Message]) -> None:
        handed.append([m.message_id for m in parts])

    collector = AlbumCollector(hold=0.05)
    for number in (12, 10, 11):  # parts may be handled out of order
        collector.add(part(number), deliver)
    collector.add(part(20, group="g2", chat_id=-5), deliver)
    await asyncio.sleep(0.01)
    assert handed == []  # still gathering
    await collector.flush(STAFF_CHAT_ID)  # a later message of that chat: its album goes first, the other waits
    assert handed == [[10, 11, 12]]
    await collector.settled()
    assert handed == [[10, 11, 12], [20]]
    assert album_part(part(10)) == AlbumPart("photo", "file-10", "part 10", ())
    collector.add(part(30, group="g3"), deliver)
    await collector.stop()  # stopping hands over what is gathered at once
    assert handed[-1] == [30]
