"""Telegram Business through a real `carebot run` process: a burst of business-chat messages, the process killed
with SIGKILL in the middle of it, restarted: every message reaches staff, none twice but the one in flight."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from tests.botapi import FakeTelegram
from tests.e2e.test_tickets_e2e import SETTINGS, WAIT
from tests.harness import carebot_against_fake, start_carebot, texts_shown_by, texts_staff_see
from tests.ids import ADMIN_ID, STAFF_CHAT_ID


async def test_killed_mid_burst_of_business_messages_nothing_is_lost(
    tg: FakeTelegram, tmp_path: Path, database_url: str
) -> None:
    owner = tg.user(ADMIN_ID, "Alice")
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[owner])
    customers = [tg.user(8300 + n, f"Customer {n}", started=False) for n in range(10)]
    tg.set_flood_limits(per_chat=(5, 1.0))  # a slow staff chat: the kill comes while the relay is busy
    expected = [f"b{n} m{j}" for n in range(10) for j in range(3)]
    async with carebot_against_fake(tg, tmp_path, database_url, **SETTINGS) as carebot:
        await tg.wait_for(lambda: tg.polls_waiting, WAIT, message=carebot.log())
        shop = tg.connect_business(owner)
        for j in range(3):
            for n, customer in enumerate(customers):
                tg.writes_to_business(customer, shop, f"b{n} m{j}")
        await tg.wait_for(lambda: len(tg.sent_to(staff)) >= 8, WAIT, message=carebot.log())
        await carebot.stop(signal.SIGKILL)
        late = tg.writes_to_business(customers[0], shop, "b0 while down")
        restarted = await start_carebot(carebot.env, tmp_path / "carebot.log")
        try:
            await tg.wait_for(
                lambda: {*expected, late.text} <= set(texts_staff_see(tg, staff)), WAIT * 2, message=restarted.log()
            )
        finally:
            await restarted.stop()
    texts = texts_staff_see(tg, staff)
    for n in range(10):
        assert sorted({t for t in texts if t.startswith(f"b{n} m")}) == [f"b{n} m{j}" for j in range(3)]
        acks = [m for m in tg.sent_in_business(shop, customers[n]) if "ticket #" in m.content]
        assert len(acks) <= 1  # acknowledged as the business, never twice
        assert tg.sent_to(customers[n]) == []  # nothing in the bot chat they never started
    # Anything shown twice must come from the one staff-chat message in flight at the kill (maybe a combined one).
    shown = sorted(tg.sent_to(staff), key=lambda m: m.message_id)
    items = [(m.message_id, part) for m in shown for part in texts_shown_by(m)]
    counts = Counter(part for _, part in items)
    first_seen: dict[str, int] = {}
    for message_id, part in items:
        first_seen.setdefault(part, message_id)
    assert len({first_seen[part] for part, count in counts.items() if count > 1}) <= 1, counts
    assert max(counts.values()) <= 2
