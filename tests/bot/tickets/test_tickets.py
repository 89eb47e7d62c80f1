"""Hotline tickets in-process: a customer writes, staff answer from a plain staff group, the lifecycle, edits."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlmodel import select

from bot.settings import Settings
from storage.models import AuditEntry, Customer, Ticket, TicketMessage
from storage.types import utcnow
from tests.botapi import FakeChat, FakeMessage, FakeTelegram, FakeUser
from tests.harness import BotHarness


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en"})


@pytest.fixture
def anna(tg: FakeTelegram) -> FakeUser:
    return tg.user(7001, "Anna", last_name="<Smith>", language_code="en")


async def stored_tickets(bot: BotHarness) -> list[Ticket]:
    async with bot.services.sessions() as session:
        return list((await session.execute(select(Ticket).order_by(Ticket.id))).scalars())  # type: ignore[arg-type]


async def stored_messages(bot: BotHarness) -> list[TicketMessage]:
    async with bot.services.sessions() as session:
        rows = await session.execute(select(TicketMessage).order_by(TicketMessage.id))  # type: ignore[arg-type]
        return list(rows.scalars())


def card_of(tg: FakeTelegram, staff: FakeChat, number: int) -> FakeMessage:
    cards = [m for m in tg.sent_to(staff) if m.content.startswith(f"🎫 #{number} ")]
    assert len(cards) == 1, [m.content for m in tg.sent_to(staff)]
    return cards[0]


def copies_in(tg: FakeTelegram, staff: FakeChat) -> list[FakeMessage]:
    return [m for m in tg.sent_to(staff) if m.copied_from is not None]


def shown_in(tg: FakeTelegram, staff: FakeChat, text: str) -> list[FakeMessage]:
    """The staff-chat messages that show a customer's text: a new ticket's card carries its first texts."""
    return [m for m in tg.sent_to(staff) if text in m.content]


async def test_a_customer_message_opens_ticket_1_with_the_text_on_its_card_and_an_acknowledgement(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser
) -> None:
    question = tg.customer_sends_text(anna, "Hello, my order 1234 has not arrived")
    await bot.deliver()

    ack = tg.last_sent(anna)
    assert ack is not None and "ticket #1" in ack.content and "within an hour" in ack.content
    card = card_of(tg, staff, 1)
    assert "Anna <Smith>" in card.content and "&lt;Smith&gt;" in card.raw_text  # escaped, shown as written
    assert "Category: Other" in card.content and "Status: ⏳ open" in card.content
    assert "Earlier tickets: 0" in card.content and card.callback_data == [
        "tk:take:1",
        "tk:resolve:1",
        "tk:close:1",
        "tk:assign:1",
    ]
    assert question.text in card.content and shown_in(tg, staff, question.text) == [card]  # one message, not two
    assert copies_in(tg, staff) == []
    (message,) = await stored_messages(bot)
    assert (message.direction, message.text, message.staff_message_id) == ("in", question.text, card.message_id)

    follow_up = tg.customer_sends_text(anna, "It was due on Monday")
    await bot.deliver()
    (copy,) = copies_in(tg, staff)
    assert copy.copied_from == follow_up.key and copy.reply_to_message_id == card.message_id


async def test_staff_reply_reaches_the_customer_and_the_ticket_waits_for_them(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser, admin: FakeUser
) -> None:
    tg.customer_sends_text(anna, "Do you ship to Berlin?")
    await bot.deliver()
    (shown,) = shown_in(tg, staff, "Do you ship to Berlin?")
    tg.group_message(admin, staff, "Yes, in 3 days!", reply_to=shown)
    tg.sends_photo(admin, caption="Our parcel service", chat=staff, reply_to=card_of(tg, staff, 1))
    await bot.deliver()

    text, photo = tg.sent_to(anna)[-2:]
    assert text.content == "Yes, in 3 days!" and photo.media_type == "photo" and photo.caption == "Our parcel service"
    (ticket,) = await stored_tickets(bot)
    assert ticket.status == "pending" and ticket.first_response_at is not None
    assert "Status: 💬 answered, waiting for the customer" in card_of(tg, staff, 1).content  # edited in place

    tg.customer_sends_text(anna, "Great, thanks. And to Munich?")
    await bot.deliver()
    (ticket,) = await stored_tickets(bot)
    assert ticket.status == "open" and len(copies_in(tg, staff)) == 1
    assert [m.direction for m in await stored_messages(bot)] == ["in", "out", "out", "in"]


async def test_notes_stay_in_the_staff_chat(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser, admin: FakeUser
) -> None:
    tg.customer_sends_text(anna, "Is the blue one in stock?")
    await bot.deliver()
    received = len(tg.sent_to(anna))
    card = card_of(tg, staff, 1)
    tg.group_message(admin, staff, "// check the warehouse first", reply_to=card)
    tg.group_message(admin, staff, "/note she is a regular", reply_to=card)
    await bot.deliver()
    assert len(tg.sent_to(anna)) == received
    notes = [m for m in await stored_messages(bot) if m.direction == "note"]
    assert [n.text for n in notes] == ["check the warehouse first", "she is a regular"]
    (ticket,) = await stored_tickets(bot)
    assert ticket.status == "open" and ticket.first_response_at is None


async def test_a_member_who_is_not_staff_is_not_relayed(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser
) -> None:
    intern = tg.user(7100, "Ivan")
    staff.members[intern.id] = "member"
    tg.customer_sends_text(anna, "Hello?")
    await bot.deliver()
    received = len(tg.sent_to(anna))
    tg.group_message(intern, staff, "I think it's lost", reply_to=card_of(tg, staff, 1))
    tg.group_message(intern, staff, "really", reply_to=card_of(tg, staff, 1))
    await bot.deliver()
    assert len(tg.sent_to(anna)) == received
    told = [m for m in tg.sent_to(staff) if "Only registered staff" in m.content]
    assert len(told) == 1  # said once, not for every message
    assert all(m.direction == "in" for m in await stored_messages(bot))


async def test_lifecycle_buttons_and_commands_tell_the_customer_and_reopen_within_the_window(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser, admin: FakeUser
) -> None:
    tg.customer_sends_text(anna, "My parcel is damaged")
    await bot.deliver()
    tg.presses_button(admin, card_of(tg, staff, 1), "tk:take:1")
    await bot.deliver()
    card = card_of(tg, staff, 1)
    assert "Assignee: Alice Admin" in card.content and "tk:take:1" not in card.callback_data

    tg.presses_button(admin, card, "tk:resolve:1")
    await bot.deliver()
    assert "ticket #1 is solved" in tg.last_sent(anna).content  # type: ignore[union-attr]
    tg.sends_command(admin, "/close 1", staff)
    await bot.deliver()
    assert "ticket #1 is closed" in tg.last_sent(anna).content  # type: ignore[union-attr]
    (ticket,) = await stored_tickets(bot)
    assert ticket.status == "closed" and ticket.closed_at is not None
    assert card_of(tg, staff, 1).callback_data == ["tk:reopen:1"]

    tg.customer_sends_text(anna, "It happened again")
    await bot.deliver()
    assert "Ticket #1 is open again" in tg.last_sent(anna).content  # type: ignore[union-attr]
    (ticket,) = await stored_tickets(bot)
    assert ticket.status == "open" and ticket.closed_at is None
    assert any("wrote again" in m.content for m in tg.sent_to(staff))

    tg.sends_command(admin, "/close #1", staff)
    await bot.deliver()
    with time_machine.travel(utcnow() + timedelta(days=8), tick=True):
        tg.customer_sends_text(anna, "A new question")
        await bot.deliver()
        assert "ticket #2" in tg.last_sent(anna).content  # type: ignore[union-attr]
    assert "Earlier tickets: 1" in card_of(tg, staff, 2).content
    tg.sends_command(admin, "/reopen 1", staff)
    await bot.deliver()
    assert [t.status for t in await stored_tickets(bot)] == ["open", "open"]
    async with bot.services.sessions() as session:
        actions = [a.action for a in (await session.execute(select(AuditEntry))).scalars()]
    assert actions == ["ticket.take", "ticket.resolve", "ticket.close", "ticket.close", "ticket.reopen"]


async def test_lifecycle_commands_need_a_ticket_and_staff(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser, admin: FakeUser
) -> None:
    tg.sends_command(admin, "/close", staff)
    tg.sends_command(admin, "/resolve 99", staff)
    tg.sends_command(anna, "/close 1")
    await bot.deliver()
    usage, missing = tg.sent_to(staff)[-2:]
    assert "give the number: /close 12" in usage.content and "There is no ticket #99." in missing.content
    assert tg.last_sent(anna).content == "This command is for staff."  # type: ignore[union-attr]
    tg.customer_sends_text(anna, "hi there, I need help")
    await bot.deliver()
    tg.presses_button(anna, card_of(tg, staff, 1), "tk:close:1", strict=False)
    await bot.deliver()
    assert (await stored_tickets(bot))[0].status == "open"  # the button re-checks who pressed it


async def test_customer_sees_their_tickets_and_closes_one(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser
) -> None:
    tg.sends_command(anna, "/tickets")
    await bot.deliver()
    assert "no tickets yet" in tg.last_sent(anna).content  # type: ignore[union-attr]
    tg.customer_sends_text(anna, "Where is my refund?")
    await bot.deliver()
    tg.sends_command(anna, "/start")
    await bot.deliver()
    tg.presses_button(anna, tg.last_sent(anna), "menu:tickets")  # type: ignore[arg-type]
    await bot.deliver()
    listing = tg.last_sent(anna)
    assert listing is not None and "#1 · Other · ⏳ open" in listing.content
    tg.presses_button(anna, listing, "tickets:close:1")
    await bot.deliver()
    assert "Ticket #1 is closed" in tg.last_sent(anna).content  # type: ignore[union-attr]
    assert any("The customer closed the ticket" in m.content for m in tg.sent_to(staff))
    assert "Status: 🔒 closed" in card_of(tg, staff, 1).content
    other = tg.user(7002, "Mallory")
    tg.presses_button(other, listing, "tickets:close:1", strict=False)  # not theirs
    await bot.deliver()
    (ticket,) = await stored_tickets(bot)
    assert ticket.closed_at is not None and ticket.status == "closed"


async def test_menu_topic_becomes_the_category(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser
) -> None:
    tg.sends_command(anna, "/start")
    await bot.deliver()
    tg.presses_button(anna, tg.last_sent(anna), "menu:aftersale")  # type: ignore[arg-type]
    await bot.deliver()
    assert "problem with your purchase" in tg.last_sent(anna).content  # type: ignore[union-attr]
    tg.sends_photo(anna, caption="The handle broke")
    await bot.deliver()
    (ticket,) = await stored_tickets(bot)
    assert ticket.category == "aftersale"
    assert "Category: After-sale service" in card_of(tg, staff, 1).content


async def test_every_kind_of_message_is_relayed_and_an_album_stays_one(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser
) -> None:
    tg.customer_sends_text(anna, "Here is everything")
    await bot.deliver()
    sent = [
        tg.sends_photo(anna),
        tg.sends_document(anna),
        tg.sends_video(anna),
        tg.sends_voice(anna),
        tg.sends_audio(anna),
        tg.sends_sticker(anna),
        tg.sends_location(anna),
        tg.sends_contact(anna),
    ]
    await bot.deliver()
    kinds = [m.kind for m in await stored_messages(bot)]
    assert kinds == ["text", "photo", "document", "video", "voice", "audio", "sticker", "location", "contact"]
    assert "Here is everything" in card_of(tg, staff, 1).content
    relayed = [m.copied_from for m in copies_in(tg, staff)]
    assert relayed == [m.key for m in sent]

    album = tg.sends_album(anna, 3, caption="three angles")
    await bot.deliver()
    groups = tg.calls_to("sendMediaGroup")
    assert len(groups) == 1 and len(groups[0].params["media"]) == 3
    parts = tg.sent_to(staff)[-3:]
    assert len({m.media_group_id for m in parts}) == 1 and parts[0].caption == "three angles"
    assert all(m.reply_to_message_id == card_of(tg, staff, 1).message_id for m in parts)
    stored = {m.customer_message_id: m.staff_message_id for m in await stored_messages(bot)}
    assert [stored[m.message_id] for m in album] == [m.message_id for m in parts]
    acks = [m for m in tg.sent_to(anna) if "ticket #1" in m.content]
    assert len(acks) == 1


async def test_unsupported_message_kinds_get_a_polite_answer(bot: BotHarness, tg: FakeTelegram, anna: FakeUser) -> None:
    tg._user_message(anna, None, {"dice": {"emoji": "🎲", "value": 4}})
    await bot.deliver()
    assert "can't pass this kind of message on" in tg.last_sent(anna).content  # type: ignore[union-attr]
    assert await stored_tickets(bot) == []


async def test_edits_show_up_on_both_sides(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser, admin: FakeUser
) -> None:
    question = tg.customer_sends_text(anna, "I ordered size M")
    photo = tg.sends_photo(anna, caption="this one")
    await bot.deliver()
    tg.edits_message(anna, question, "I ordered size L")
    tg.edits_message(anna, photo, "this one, in red")
    await bot.deliver()
    text_edit, photo_edit = tg.sent_to(staff)[-2:]
    assert text_edit.content == "✏️ Edited by the customer:\nI ordered size L"
    assert photo_edit.media_type == "photo" and photo_edit.caption == "✏️ Edited by the customer:\nthis one, in red"
    photo_copy = copies_in(tg, staff)[0]
    assert text_edit.reply_to_message_id == card_of(tg, staff, 1).message_id  # the card carried the question
    assert photo_copy.copied_from == photo.key and photo_edit.reply_to_message_id == photo_copy.message_id

    reply = tg.group_message(admin, staff, "We will send L", reply_to=text_edit)
    await bot.deliver()
    tg.edits_message(admin, reply, "We will send L tomorrow")
    await bot.deliver()
    answer = tg.last_sent(anna)
    assert answer is not None and answer.content == "We will send L tomorrow" and answer.edited
    texts = [m.text for m in await stored_messages(bot)]
    assert texts == ["I ordered size L", "this one, in red", "We will send L tomorrow"]


async def test_a_customer_who_blocked_the_bot_is_marked_unreachable_and_staff_are_told(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser, admin: FakeUser
) -> None:
    tg.customer_sends_text(anna, "please call me back")
    await bot.deliver()
    tg.block_bot(anna, notify_bot=False)
    tg.group_message(admin, staff, "Sure, when?", reply_to=card_of(tg, staff, 1))
    await bot.deliver()
    assert "Undeliverable: the customer blocked the bot" in tg.last_sent(staff).content  # type: ignore[union-attr]
    async with bot.services.sessions() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
    assert customer.unreachable
    assert "blocked the bot" in card_of(tg, staff, 1).content

    tg.unblock_bot(anna)
    await bot.deliver()
    async with bot.services.sessions() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
    assert not customer.unreachable


async def test_a_customer_who_blocks_the_bot_is_marked_once_and_staff_are_told_once(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser
) -> None:
    tg.customer_sends_text(anna, "please call me back")
    await bot.deliver()
    tg.block_bot(anna)  # Telegram's my_chat_member update
    tg.block_bot(anna)  # and, as Telegram may, the same news again
    await bot.deliver()
    notices = [m for m in tg.sent_to(staff) if "Undeliverable: the customer blocked the bot" in m.content]
    assert len(notices) == 1
    async with bot.services.sessions() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
    assert customer.unreachable
    assert "blocked the bot" in card_of(tg, staff, 1).content


async def test_the_queue_lists_vip_first_then_the_longest_waiting_with_sla(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, admin: FakeUser
) -> None:
    early, late, vip = tg.user(7201, "Early"), tg.user(7202, "Late"), tg.user(7203, "Vera")
    start = utcnow()
    with time_machine.travel(start - timedelta(minutes=90), tick=True):
        tg.customer_sends_text(early, "first in line")
        await bot.deliver()
    with time_machine.travel(start - timedelta(minutes=20), tick=True):
        tg.customer_sends_text(late, "second")
        await bot.deliver()
        tg.customer_sends_text(vip, "I spend a lot")
        await bot.deliver()
    async with bot.services.sessions() as session:
        vera = (await session.execute(select(Customer).where(Customer.telegram_id == 7203))).scalar_one()
        vera.segment = "vip"
        session.add(vera)
        await session.commit()
    tg.sends_command(admin, "/queue", staff)
    await bot.deliver()
    queue = tg.last_sent(staff)
    assert queue is not None and queue.content.startswith("Queue · 3 waiting for us")
    lines = [line for line in queue.content.splitlines() if "#" in line]
    assert [line.split(" · ")[0] for line in lines] == ["⭐ VIP #3", "#1", "#2"]
    details = queue.content.split("\n")
    assert "overdue by 5 min" in details[details.index(lines[0]) + 1]  # VIP target is 15 minutes
    assert "overdue by 30 min" in details[details.index(lines[1]) + 1]
    assert "40 min left" in details[details.index(lines[2]) + 1]


async def test_outside_business_hours_the_acknowledgement_says_when_staff_are_back(
    tg: FakeTelegram,
    services,
    staff: FakeChat,
    anna: FakeUser,  # type: ignore[no-untyped-def]
) -> None:
    from dataclasses import replace

    from tests.harness import running_bot

    settings = services.settings.model_copy(update={"business_hours": "Mon-Fri 09:00-18:00"})
    # Friday 30 January 2026, 20:00 in Shanghai: back on Monday at 09:00.
    with time_machine.travel("2026-01-30T12:00:00Z", tick=True):
        async with running_bot(tg, replace(services, settings=settings)) as bot:
            tg.customer_sends_text(anna, "Are you there?")
            await bot.deliver()
    ack = tg.last_sent(anna)
    assert ack is not None and "ticket #1" in ack.content
    assert "back Feb 2, 2026, 9:00:00\u202fAM (Asia/Shanghai)" in ack.content


async def test_bot_added_to_a_group_answers_with_its_id_or_leaves(
    bot: BotHarness, tg: FakeTelegram, admin: FakeUser
) -> None:
    setup = tg.group(-1009999, "New staff group", bot_status="left")
    tg.bot_added_to_group(admin, setup)
    await bot.deliver()
    assert "CAREBOT_STAFF_CHAT_ID=-1009999" in tg.last_sent(setup).content  # type: ignore[union-attr]

    stranger = tg.user(7300, "Spammer")
    elsewhere = tg.group(-1008888, "Random group", bot_status="left")
    tg.bot_added_to_group(stranger, elsewhere)
    await bot.deliver()
    assert elsewhere.bot_status == "left" and tg.sent_to(elsewhere) == []
    tg.group_message(stranger, elsewhere, "hello bot")
    await bot.deliver()
    assert await stored_tickets(bot) == []


async def test_a_reprocessed_update_doubles_nothing(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser
) -> None:
    from telegram import Update

    question = tg.customer_sends_text(anna, "Only once please")
    await bot.deliver()
    assert question.update_id is not None
    update = Update.de_json({"update_id": question.update_id, "message": question.snapshot()}, bot.app.bot)
    assert update is not None
    await bot.app.process_update(update)  # as after a crash before the inbox marked it handled
    await bot.deliver()
    assert len(await stored_messages(bot)) == 1 and len(shown_in(tg, staff, "Only once please")) == 1
    assert len([m for m in tg.sent_to(anna) if "ticket #1" in m.content]) == 1
