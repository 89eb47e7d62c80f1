"""The staff-chat relay in-process: forum topics, deleted topics, no topic rights, backlog, 429, limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlmodel import select

from bot.runtime.ratelimit import CarebotRateLimiter
from bot.runtime.updates import accept, fetch_updates
from bot.settings import Settings
from bot.tickets import customer as customer_module
from bot.tickets import relay as relay_module
from bot.tickets.relay import relay_of
from bot.ui.splitting import CAPTION_LIMIT, TEXT_LIMIT, split_caption, split_text, tg_len
from storage import staff_deliveries
from storage.models import StaffDelivery, Ticket, TicketMessage
from tests.botapi import FakeChat, FakeTelegram, FakeUser
from tests.harness import BotHarness
from tests.ids import STAFF_CHAT_ID


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en"})


@pytest.fixture
def forum(tg: FakeTelegram, admin: FakeUser) -> FakeChat:
    return tg.group(STAFF_CHAT_ID, "Care team", forum=True, members=[admin])


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
    (card,) = [m for m in tg.sent_to(forum) if m.thread_id == first.staff_thread_id]
    assert card.content.startswith("🎫 #1 · Anna") and forum.pinned == [card.message_id]
    assert card.content.endswith("\n\nHello from Anna")  # the card carries the first text: one message, not two

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
    assert len(shown) == 1 and shown[0].startswith("🎫 #1 · Anna") and shown[0].endswith("\n\nsecond")


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
    assert [card.content.rsplit("\n", 1)[-1] for card in cards] == ["help me, I am Anna", "help me, I am Ben"]


async def test_texts_stored_one_after_another_reach_staff_together_once_the_burst_stops(
    bot: BotHarness, tg: FakeTelegram, admin: FakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "QUIET_SECONDS", 1.0)  # wide, so that a slow machine still counts as a burst
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[admin])
    anna = tg.user(7425, "Anna")
    await bot.settle()  # the relay's first look at the queue, at start, is over
    for text in ("hello", "my order", "is late"):  # three batches, each stored and handled before the next comes
        tg.customer_sends_text(anna, text)
        updates, bot.offset = await fetch_updates(bot.app.bot, offset=bot.offset, timeout=0)
        await accept(bot.app, bot.services.sessions, bot.dispatcher, updates)
        await bot.dispatcher.drain()
        await asyncio.sleep(0.1)  # time enough for a pass to show it, if the relay did not wait for the burst
        assert tg.sent_to(staff) == []  # it waits while news keeps coming
    await bot.settle()
    (card,) = tg.sent_to(staff)
    assert card.content.startswith("🎫 #1 · Anna") and card.content.endswith("\n\nhello\n\nmy order\n\nis late")


async def test_texts_still_being_handled_when_the_relay_wakes_reach_staff_on_the_same_card(
    bot: BotHarness, tg: FakeTelegram, admin: FakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[admin])
    anna = tg.user(7426, "Anna")
    await bot.settle()
    acknowledging, go_on = asyncio.Event(), asyncio.Event()
    acknowledge = customer_module.acknowledge

    async def slow_acknowledge(*args: Any, **kwargs: Any) -> None:  # the customer's answer takes a while
        acknowledging.set()
        await go_on.wait()
        await acknowledge(*args, **kwargs)

    monkeypatch.setattr(customer_module, "acknowledge", slow_acknowledge)
    for text in ("hello", "my order is late"):
        tg.customer_sends_text(anna, text)
        updates, bot.offset = await fetch_updates(bot.app.bot, offset=bot.offset, timeout=0)
        await accept(bot.app, bot.services.sessions, bot.dispatcher, updates)
        await acknowledging.wait()  # "hello" is stored, the relay woken; the next text waits behind its answer
    await asyncio.sleep(0.1)  # time enough for a pass to show it, if the relay did not wait for the handling
    assert tg.sent_to(staff) == []
    go_on.set()
    await bot.settle()
    (card,) = tg.sent_to(staff)
    assert card.content.endswith("\n\nhello\n\nmy order is late")


async def test_a_backed_up_queue_combines_a_customers_texts_in_order(
    bot: BotHarness, tg: FakeTelegram, admin: FakeUser
) -> None:
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[admin])
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
    cards = [m.content for m in tg.sent_to(staff) if m.content.startswith("🎫")]
    assert [card.split("\n\n", 1)[1] for card in cards] == ["one\n\ntwo\n\nthree", "ben here"]  # on new cards
    contents = [m.content for m in tg.sent_to(staff) if not m.content.startswith("🎫")]
    assert contents == ["a photo", "four"]
    async with bot.services.sessions() as session:
        rows = (await session.execute(select(StaffDelivery))).scalars().all()
    assert {row.status for row in rows} == {"sent"}


# A pass that may run for a minute takes the whole backlog however busy the machine; one of 0 s takes a group.
@pytest.mark.parametrize("pass_seconds", [60.0, 0.0], ids=["one pass", "a pass per group"])
async def test_a_backlog_of_many_tickets_goes_out_in_one_pass_each_message_once_in_queue_order(
    bot: BotHarness, tg: FakeTelegram, admin: FakeUser, monkeypatch: pytest.MonkeyPatch, pass_seconds: float
) -> None:
    monkeypatch.setattr(relay_module, "PASS_SECONDS", pass_seconds)  # 0: every pass stops after one group
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[admin])
    relay = relay_of(bot.app)
    await relay.stop()
    customers = [tg.user(7450 + n, f"Customer{n}") for n in range(12)]
    for round_ in ("first", "photo", "second", "third"):  # the queue interleaves the tickets
        for n, customer in enumerate(customers):
            if round_ == "photo":
                tg.sends_photo(customer, caption=f"c{n} photo")
            else:
                tg.customer_sends_text(customer, f"c{n} {round_}")
    await bot.deliver()
    assert tg.sent_to(staff) == []
    reads = 0
    real_pending = staff_deliveries.pending

    async def counted(*args: Any, **kwargs: Any) -> list[StaffDelivery]:
        nonlocal reads
        reads += 1
        return await real_pending(*args, **kwargs)

    monkeypatch.setattr(staff_deliveries, "pending", counted)
    await relay.start()
    await relay.settled()

    shown = tg.sent_to(staff)
    groups = 12 * 3  # per ticket: its card with its first text, its photo, its next texts combined
    assert reads == (2 if pass_seconds else groups + 1)  # and a last pass finds the queue empty
    cards = [m for m in shown if m.content.startswith("🎫")]
    assert len(cards) == 12
    copies = [m for m in shown if not m.content.startswith("🎫")]
    assert len(shown) == groups
    for n, customer in enumerate(customers):
        (card,) = [c for c in cards if f"Telegram id: {customer.id}" in c.content]
        assert card.content.endswith(f"\n\nc{n} first")
        mine = [m for m in shown if m.content.startswith(f"c{n} ")]
        assert [m.content for m in mine] == [f"c{n} photo", f"c{n} second\n\nc{n} third"]
        assert shown.index(card) < shown.index(mine[0])
        assert all(m.reply_to_message_id == card.message_id for m in mine)
    async with bot.services.sessions() as session:
        rows = (await session.execute(select(StaffDelivery))).scalars().all()
        stored = {m.text: m for m in (await session.execute(select(TicketMessage))).scalars().all()}
    assert {row.status for row in rows} == {"sent"} and all(row.attempts == 1 for row in rows)
    # Tickets take turns in the order their messages were queued (not one ticket's backlog after another's).
    queued_at = {m.message_id: min(r.id or 0 for r in rows if r.staff_message_id == m.message_id) for m in copies}
    assert [queued_at[m.message_id] for m in copies] == sorted(queued_at.values())
    for message in copies:  # staff reply to what they see: each stored message knows where it is shown
        for part in message.content.split("\n\n"):
            assert stored[part].staff_message_id == message.message_id
            assert stored[part].staff_chat_id == STAFF_CHAT_ID
    for card in cards:
        assert stored[card.content.rsplit("\n", 1)[-1]].staff_message_id == card.message_id


async def test_a_ticket_whose_delivery_fails_waits_while_the_other_tickets_of_the_pass_go_on(
    bot: BotHarness, tg: FakeTelegram, admin: FakeUser
) -> None:
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[admin])
    relay = relay_of(bot.app)
    await relay.stop()
    anna, ben = tg.user(7461, "Anna"), tg.user(7462, "Ben")
    tg.customer_sends_text(anna, "anna one")
    tg.customer_sends_text(ben, "ben one")
    tg.sends_photo(anna, caption="anna photo")
    tg.sends_photo(ben, caption="ben photo")
    tg.customer_sends_text(anna, "anna two")
    tg.customer_sends_text(ben, "ben two")
    await bot.deliver()
    tg.fail_next("copyMessage", status=502, times=1, chat_id=STAFF_CHAT_ID)  # Telegram has trouble once
    await relay.start()
    first = await tg.wait_for(lambda: [m.content for m in tg.sent_to(staff) if m.copied_from], timeout=10)
    waiting, going = ("anna", "ben") if first[0].startswith("ben") else ("ben", "anna")
    await tg.wait_for(lambda: f"{going} two" in [m.content for m in tg.sent_to(staff)], timeout=10)
    contents = [m.content for m in tg.sent_to(staff) if not m.content.startswith("🎫")]
    assert contents == [f"{going} photo", f"{going} two"]  # the other ticket did not wait
    await tg.wait_for(lambda: f"{waiting} two" in [m.content for m in tg.sent_to(staff)], timeout=30)
    await relay.settled()
    contents = [m.content for m in tg.sent_to(staff) if not m.content.startswith("🎫")]
    assert contents[2:] == [f"{waiting} photo", f"{waiting} two"]  # later, once each, in order
    cards = [m.content for m in tg.sent_to(staff) if m.content.startswith("🎫")]
    assert sorted(card.rsplit("\n", 1)[-1] for card in cards) == ["anna one", "ben one"]  # each on its card


async def test_a_429_from_the_staff_chat_is_waited_out_and_nothing_is_dropped(
    bot: BotHarness, tg: FakeTelegram, admin: FakeUser
) -> None:
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[admin])
    # more than the limiter retries by itself
    tg.fail_next("sendMessage", status=429, retry_after=1, times=7, chat_id=STAFF_CHAT_ID)
    anna = tg.user(7431, "Anna")
    tg.customer_sends_text(anna, "still there?")
    await bot.deliver()
    assert "ticket #1" in tg.last_sent(anna).content  # type: ignore[union-attr]
    await tg.wait_for(lambda: [m for m in tg.sent_to(staff) if "still there?" in m.content], timeout=30)
    assert len([m for m in tg.sent_to(staff) if "still there?" in m.content]) == 1  # on its card, once


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
    assert [(w.limit, w.period) for w in limiter.windows(STAFF_CHAT_ID)] == [(1, 1.1), (20, 60.1)]
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
