"""Tickets through a real `carebot run` process and the loopback Bot API: what customers and staff live through."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

from tests.botapi import FakeMessage, FakeTelegram
from tests.harness import carebot_against_fake, start_carebot, texts_shown_by, texts_staff_see
from tests.ids import ADMIN_ID, STAFF_CHAT_ID

SETTINGS = {
    "staff_chat_id": str(STAFF_CHAT_ID),
    "admin_ids": str(ADMIN_ID),
    "default_language": "en",
    "rate_limits": "off",
}
WAIT = 90  # seconds; generous for a loaded CI machine


async def test_a_ticket_conversation_from_faq_to_a_new_ticket(
    tg: FakeTelegram, tmp_path: Path, database_url: str
) -> None:
    admin = tg.user(ADMIN_ID, "Alice", last_name="Admin")
    intern = tg.user(7600, "Ivan")
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[admin, intern])
    anna = tg.user(7601, "Anna", has_private_forwards=True)  # hides her forwards: copies still work

    def last(chat: object) -> FakeMessage:
        return tg.sent_to(chat)[-1]  # type: ignore[arg-type]  # IndexError means "not yet" to wait_for

    async def staff_sees(predicate: object, what: str) -> FakeMessage:
        return await tg.wait_for(
            lambda: next((m for m in reversed(tg.sent_to(staff)) if predicate(m)), None),  # type: ignore[operator]
            WAIT,
            message=f"{what}\n{carebot.log()[-4000:]}",
        )

    async with carebot_against_fake(tg, tmp_path, database_url, reopen_days="0", **SETTINGS) as carebot:
        tg.sends_command(admin, "/faq add en order\nHow long does delivery take?\nUsually 3-5 working days.", staff)
        await staff_sees(lambda m: m.content.startswith("FAQ entry 1 added"), "the FAQ entry")

        tg.customer_sends_text(anna, "how long does delivery take")  # FAQ hit
        await tg.wait_for(lambda: last(anna).content == "Usually 3-5 working days.", WAIT, message=carebot.log())
        assert "🙋 Talk to a person" in last(anna).button_texts

        question = tg.customer_sends_text(anna, "My parcel arrived broken")  # FAQ miss: ticket #1
        await tg.wait_for(lambda: "ticket #1" in last(anna).content, WAIT, message=carebot.log())
        card = await staff_sees(lambda m: m.content.startswith("🎫 #1 · Anna"), "the card")
        assert texts_shown_by(card) == [question.text]  # the card carries the first text

        tg.group_message(intern, staff, "probably the courier", reply_to=card)  # not staff: not relayed
        await staff_sees(lambda m: "Only registered staff" in m.content, "the not-staff notice")
        reply = tg.group_message(admin, staff, "Sorry! A new one is on its way.", reply_to=card)
        tg.sends_photo(admin, caption="Your replacement", chat=staff, reply_to=card)
        await tg.wait_for(lambda: last(anna).media_type == "photo", WAIT, message=carebot.log())
        text_reply, photo_reply = tg.sent_to(anna)[-2:]
        assert text_reply.content == "Sorry! A new one is on its way." and photo_reply.caption == "Your replacement"
        assert not any("probably the courier" in m.content for m in tg.sent_to(anna))

        tg.edits_message(anna, question, "My parcel arrived broken and wet")
        await staff_sees(lambda m: m.content.endswith("broken and wet"), "the customer's edit")
        tg.edits_message(admin, reply, "Sorry! A new one is on its way today.")
        await tg.wait_for(lambda: text_reply.content.endswith("today."), WAIT, message=carebot.log())

        tg.presses_button(admin, card, "tk:resolve:1")
        await tg.wait_for(lambda: "is solved" in last(anna).content, WAIT, message=carebot.log())
        tg.customer_sends_text(anna, "The new one is broken too")  # a resolved ticket reopens
        await tg.wait_for(lambda: "Ticket #1 is open again" in last(anna).content, WAIT, message=carebot.log())
        tg.sends_command(admin, "/close 1", staff)
        await tg.wait_for(lambda: "ticket #1 is closed" in last(anna).content, WAIT, message=carebot.log())
        tg.customer_sends_text(anna, "Another question")  # closed (reopen window 0 days): a new ticket
        await tg.wait_for(lambda: "ticket #2" in last(anna).content, WAIT, message=carebot.log())
        await staff_sees(lambda m: m.content.startswith("🎫 #2 · Anna"), "the second card")
    assert carebot.process.returncode == 0, carebot.log()


async def test_forum_topics_and_a_deleted_topic(tg: FakeTelegram, tmp_path: Path, database_url: str) -> None:
    admin = tg.user(ADMIN_ID, "Alice")
    forum = tg.group(STAFF_CHAT_ID, "Care team", forum=True, members=[admin])
    ben = tg.user(7611, "Ben")
    async with carebot_against_fake(tg, tmp_path, database_url, **SETTINGS) as carebot:
        tg.customer_sends_text(ben, "Is the shop open on Sunday?")
        await tg.wait_for(lambda: forum.topics and forum.pinned, WAIT, message=carebot.log())
        (thread_id,) = forum.topics
        assert forum.topics[thread_id].name == "#1 · Ben · Other"
        await tg.wait_for(lambda: texts_staff_see(tg, forum), WAIT, message=carebot.log())
        tg.group_message(admin, forum, "Yes, 10 to 16.", thread_id=thread_id)
        await tg.wait_for(lambda: tg.last_sent(ben).content == "Yes, 10 to 16.", WAIT, message=carebot.log())  # type: ignore[union-attr]

        tg.delete_topic(forum, thread_id)
        tg.customer_sends_text(ben, "And on holidays?")
        await tg.wait_for(lambda: len(forum.topics) == 2, WAIT, message=carebot.log())
        new = max(forum.topics)
        await tg.wait_for(
            lambda: (
                [texts_shown_by(m) for m in tg.sent_to(forum, include_deleted=False) if m.thread_id == new]
                == [["And on holidays?"]]  # on the card, in the new topic
            ),
            WAIT,
            message=carebot.log(),
        )
        assert forum.topics[new].name == "#1 · Ben · Other"


async def test_fifty_customers_at_once_each_message_reaches_staff_once_and_in_order(
    tg: FakeTelegram, tmp_path: Path, database_url: str
) -> None:
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[tg.user(ADMIN_ID, "Alice")])
    customers = [tg.user(8000 + n, f"Customer {n}") for n in range(50)]
    tg.set_flood_limits(per_chat=(25, 1.0))  # the staff chat answers 429 when pushed: waited out, never dropped
    tg.fail_next(None, status=429, retry_after=1, chat_id=STAFF_CHAT_ID, times=3)
    async with carebot_against_fake(tg, tmp_path, database_url, **SETTINGS) as carebot:
        await tg.wait_for(lambda: tg.polls_waiting, WAIT, message=carebot.log())
        for n, customer in enumerate(customers):
            tg.customer_sends_text(customer, f"c{n} first")
            tg.customer_sends_text(customer, f"c{n} second")
        await tg.wait_for(lambda: len(texts_staff_see(tg, staff)) >= 100, WAIT * 2, message=carebot.log())
        await asyncio.sleep(1)  # nothing more arrives
        texts = texts_staff_see(tg, staff)
        assert sorted(Counter(texts).values()) == [1] * 100
        for n in range(50):
            assert [t for t in texts if t.startswith(f"c{n} ")] == [f"c{n} first", f"c{n} second"]
        assert all("ticket #" in tg.sent_to(c)[0].content for c in customers)
        assert any(not call.ok for call in tg.calls if call.chat_id == STAFF_CHAT_ID)  # 429s happened


async def test_killed_mid_way_and_restarted_no_message_is_lost_and_none_arrives_twice_but_the_one_in_flight(
    tg: FakeTelegram, tmp_path: Path, database_url: str
) -> None:
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[tg.user(ADMIN_ID, "Alice")])
    customers = [tg.user(8100 + n, f"Customer {n}") for n in range(10)]
    tg.set_flood_limits(per_chat=(5, 1.0))  # a slow staff chat: the kill comes while the relay is busy
    expected = [f"c{n} m{j}" for n in range(10) for j in range(3)]
    async with carebot_against_fake(tg, tmp_path, database_url, **SETTINGS) as carebot:
        await tg.wait_for(lambda: tg.polls_waiting, WAIT, message=carebot.log())
        for j in range(3):
            for n, customer in enumerate(customers):
                tg.customer_sends_text(customer, f"c{n} m{j}")
        await tg.wait_for(lambda: len(tg.sent_to(staff)) >= 8, WAIT, message=carebot.log())
        await carebot.stop(signal.SIGKILL)
        late = tg.customer_sends_text(customers[0], "c0 while down")
        restarted = await start_carebot(carebot.env, tmp_path / "carebot.log")
        try:
            await tg.wait_for(
                lambda: {*expected, late.text} <= set(texts_staff_see(tg, staff)), WAIT * 2, message=restarted.log()
            )
        finally:
            await restarted.stop()
    texts = texts_staff_see(tg, staff)
    for n in range(10):
        mine = [t for t in texts if t.startswith(f"c{n} m")]
        assert sorted(set(mine)) == [f"c{n} m{j}" for j in range(3)]
    # Anything shown twice must come from the one message in flight at the kill.
    shown = sorted(tg.sent_to(staff), key=lambda m: m.message_id)
    items = [(m.message_id, part) for m in shown for part in texts_shown_by(m)]
    counts = Counter(part for _, part in items)
    first_seen: dict[str, int] = {}
    for message_id, part in items:
        first_seen.setdefault(part, message_id)
    in_flight = {first_seen[part] for part, count in counts.items() if count > 1}
    assert len(in_flight) <= 1, counts
    assert max(counts.values()) <= 2
