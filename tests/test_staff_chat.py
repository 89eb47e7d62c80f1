"""The staff-chat relay in-process: forum topics, deleted topics, no topic rights, backlog, 429, limits."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlmodel import select

from bot.ratelimit import CarebotRateLimiter
from bot.settings import Settings
from bot.splitting import CAPTION_LIMIT, TEXT_LIMIT, split_caption, split_text, tg_len
from bot.staff_chat import relay_of
from storage.models import StaffDelivery, Ticket
from tests.botapi import FakeChat, FakeTelegram, FakeUser
from tests.harness import BotHarness

STAFF_CHAT = -100500


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en"})


@pytest.fixture
def admin(tg: FakeTelegram) -> FakeUser:
    return tg.user(900001, "Alice", last_name="Admin")


@pytest.fixture
def forum(tg: FakeTelegram, admin: FakeUser) -> FakeChat:
    return tg.group(STAFF_CHAT, "Care team", forum=True, members=[admin])


async def ticket(bot: BotHarness, number: int) -> Ticket:
    async with bot.services.sessions() as session:
        found = await session.get(Ticket, number)
    assert found is not None
    return found


async def test_forum_mode_gives_each_ticket_a_topic_with_its_card_pinned(
    bot: BotHarness, tg: FakeTelegram, forum: FakeChat, admin: FakeUser
) -> None:
    anna = tg.user(7401, "Anna")
    tg.customer_sends_text(anna, "Hello from Anna")
    await bot.deliver()
    first = await ticket(bot, 1)
    assert first.staff_thread_id is not None
    assert forum.topics[first.staff_thread_id].name == "#1 · Anna · Other"
    card, copy = [m for m in tg.sent_to(forum) if m.thread_id == first.staff_thread_id]
    assert card.content.startswith("🎫 #1 · Anna") and forum.pinned == [card.message_id]
    assert copy.content == "Hello from Anna"

    tg.group_message(admin, forum, "Hi Anna, how can we help?", thread_id=first.staff_thread_id)
    await bot.deliver()
    assert tg.last_sent(anna).content == "Hi Anna, how can we help?"  # type: ignore[union-attr]
    tg.group_message(admin, forum, "Good morning team")  # the General topic: not a ticket
    await bot.deliver()
    assert tg.last_sent(anna).content == "Hi Anna, how can we help?"  # type: ignore[union-attr]

    tg.sends_command(admin, "/close", forum)  # inside General: needs a number
    command = {"text": "/close", "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}
    tg._user_message(admin, forum, command, thread_id=first.staff_thread_id)
    await bot.deliver()
    assert forum.topics[first.staff_thread_id].closed
    assert "ticket #1 is closed" in tg.last_sent(anna).content  # type: ignore[union-attr]

    tg.customer_sends_text(anna, "one more thing")  # within the reopen window: the same topic opens again
    await bot.deliver()
    assert not forum.topics[first.staff_thread_id].closed
    assert tg.sent_to(forum)[-2].content == "one more thing"


async def test_a_deleted_topic_is_created_again_with_the_card(
    bot: BotHarness, tg: FakeTelegram, forum: FakeChat
) -> None:
    anna = tg.user(7402, "Anna")
    tg.customer_sends_text(anna, "first")
    await bot.deliver()
    old = (await ticket(bot, 1)).staff_thread_id
    assert old is not None
    tg.delete_topic(forum, old)
    tg.customer_sends_text(anna, "second")
    await bot.deliver()
    new = (await ticket(bot, 1)).staff_thread_id
    assert new is not None and new != old and not forum.topics[new].deleted
    shown = [m.content for m in tg.sent_to(forum, include_deleted=False) if m.thread_id == new]
    assert shown[0].startswith("🎫 #1 · Anna") and shown[1:] == ["second"]


async def test_without_topic_rights_tickets_fall_back_to_cards_and_admins_are_told_once(
    bot: BotHarness, tg: FakeTelegram, forum: FakeChat, admin: FakeUser
) -> None:
    tg.deny_topics(forum)
    for number, name in enumerate(("Anna", "Ben"), start=1):
        customer = tg.user(7410 + number, name)
        tg.customer_sends_text(customer, f"help me, I am {name}")
        await bot.deliver()
        assert (await ticket(bot, number)).staff_thread_id is None
    told = [m for m in tg.sent_to(forum) if "cannot create forum topics" in m.content]
    assert len(told) == 1 and "cannot create forum topics" in tg.last_sent(admin).content  # type: ignore[union-attr]
    cards = [m for m in tg.sent_to(forum) if m.content.startswith("🎫")]
    copies = [m for m in tg.sent_to(forum) if m.copied_from]
    assert [c.reply_to_message_id for c in copies] == [card.message_id for card in cards]


async def test_a_backed_up_queue_combines_a_customers_texts_in_order(
    bot: BotHarness, tg: FakeTelegram, admin: FakeUser
) -> None:
    staff = tg.group(STAFF_CHAT, "Care team", members=[admin])
    relay = relay_of(bot.app)
    await relay.stop()  # the staff chat is busy: nothing leaves the queue for a while
    anna, ben = tg.user(7421, "Anna"), tg.user(7422, "Ben")
    for text in ("one", "two", "three"):
        tg.customer_sends_text(anna, text)
    tg.customer_sends_text(ben, "ben here")
    tg.sends_photo(anna, caption="a photo")
    tg.customer_sends_text(anna, "four")
    await bot.deliver()
    assert tg.sent_to(staff) == [] and len(tg.sent_to(anna)) == 1  # the customer was answered meanwhile
    await relay.start()
    await relay.settled()
    contents = [m.content for m in tg.sent_to(staff) if not m.content.startswith("🎫")]
    assert contents.count("one\n\ntwo\n\nthree") == 1 and "ben here" in contents
    anna_side = [c for c in contents if c != "ben here"]
    assert anna_side == ["one\n\ntwo\n\nthree", "a photo", "four"]
    async with bot.services.sessions() as session:
        rows = (await session.execute(select(StaffDelivery))).scalars().all()
    assert {row.status for row in rows} == {"sent"}


async def test_a_429_from_the_staff_chat_is_waited_out_and_nothing_is_dropped(
    bot: BotHarness, tg: FakeTelegram, admin: FakeUser
) -> None:
    staff = tg.group(STAFF_CHAT, "Care team", members=[admin])
    tg.fail_next("copyMessage", status=429, retry_after=1, times=7)  # more than the limiter retries by itself
    anna = tg.user(7431, "Anna")
    tg.customer_sends_text(anna, "still there?")
    await bot.deliver()
    assert "ticket #1" in tg.last_sent(anna).content  # type: ignore[union-attr]
    await tg.wait_for(lambda: [m for m in tg.sent_to(staff) if m.content == "still there?"], timeout=30)
    assert len([m for m in tg.sent_to(staff) if m.content == "still there?"]) == 1


async def test_an_unreachable_staff_chat_keeps_messages_queued(bot: BotHarness, tg: FakeTelegram) -> None:
    anna = tg.user(7441, "Anna")
    tg.customer_sends_text(anna, "anyone?")
    await bot.deliver()  # the staff group does not exist: the relay backs off, the customer is answered
    assert "ticket #1" in tg.last_sent(anna).content  # type: ignore[union-attr]
    async with bot.services.sessions() as session:
        rows = (await session.execute(select(StaffDelivery))).scalars().all()
    assert [row.status for row in rows] == ["pending"]


def test_long_texts_split_at_safe_boundaries() -> None:
    paragraph = "A sentence that goes on. " * 100
    text = "\n\n".join([paragraph.strip()] * 4)
    parts = split_text(text)
    assert len(parts) == 4 and all(tg_len(p) <= TEXT_LIMIT for p in parts)  # one paragraph each
    assert all(p.endswith("on.") for p in parts)
    assert " ".join(p.replace("\n\n", " ") for p in parts).split() == text.split()
    emoji = "😀" * 3000  # 2 UTF-16 units each: 6000 units, no boundary at all
    assert [tg_len(p) for p in split_text(emoji)] == [4096, 1904]
    head, rest = split_caption("word " * 400)
    assert tg_len(head) <= CAPTION_LIMIT and (head + " " + " ".join(rest)).split() == ("word " * 400).split()
    assert split_text("short") == ["short"]


async def test_rate_limiter_keeps_one_a_second_per_chat_and_the_group_window() -> None:
    limiter = CarebotRateLimiter(enabled=True)
    assert [(w.limit, w.period) for w in limiter.windows(-100500)] == [(1, 1.1), (20, 60.1)]
    assert [(w.limit, w.period) for w in limiter.windows(42)] == [(1, 1.1)]
    calls: list[float] = []

    async def send() -> bool:
        calls.append(time.monotonic())
        return True

    await asyncio.gather(
        *(limiter.process_request(send, (), {}, "sendMessage", {"chat_id": 42}, None) for _ in range(2))
    )
    assert calls[1] - calls[0] >= 1.0
    off = CarebotRateLimiter(enabled=False)
    start = time.monotonic()
    await asyncio.gather(*(off.process_request(send, (), {}, "sendMessage", {"chat_id": 42}, None) for _ in range(5)))
    assert time.monotonic() - start < 0.5
