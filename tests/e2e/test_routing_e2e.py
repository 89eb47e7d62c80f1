"""Agent inboxes through a real `carebot run` process: killed mid-burst and restarted, no customer message is lost
and none reaches an agent twice but the one in flight."""

from __future__ import annotations

import re
import signal
from collections import Counter
from pathlib import Path

from tests.botapi import FakeTelegram, FakeUser
from tests.harness import carebot_against_fake, start_carebot

STAFF = -100500
ADMIN, MIA, LEO = 900001, 800001, 800002
SETTINGS = {
    "staff_chat_id": str(STAFF),
    "admin_ids": f"{ADMIN},{MIA},{LEO}",
    "default_language": "en",
    "rate_limits": "off",
}
WAIT = 90
CUSTOMER_TEXT = re.compile(r"^c\d+ (m\d+|while down)$")


def inbox_items(tg: FakeTelegram, agent: FakeUser) -> list[tuple[int, str]]:
    """(message id, customer text) for every customer text an agent's inbox shows (a card carries the first ones,
    a combined message several)."""
    items: list[tuple[int, str]] = []
    for message in sorted(tg.sent_to(agent), key=lambda m: m.message_id):
        if message.text:
            items.extend((message.message_id, part) for part in message.text.split("\n\n") if CUSTOMER_TEXT.match(part))
    return items


async def test_killed_mid_burst_and_restarted_inbox_deliveries_lose_nothing_and_double_at_most_the_one_in_flight(
    tg: FakeTelegram, tmp_path: Path, database_url: str
) -> None:
    tg.group(STAFF, "Care team", members=[tg.user(ADMIN, "Ada")])
    agents = [tg.user(MIA, "Mia"), tg.user(LEO, "Leo")]
    customers = [tg.user(8200 + n, f"Customer {n}") for n in range(8)]
    tg.set_flood_limits(per_chat=(3, 1.0))  # slow inboxes: the kill comes while the relay is busy
    expected = {f"c{n} m{j}" for n in range(8) for j in range(4)}
    async with carebot_against_fake(tg, tmp_path, database_url, **SETTINGS) as carebot:
        await tg.wait_for(lambda: tg.polls_waiting, WAIT, message=carebot.log())
        for agent in agents:
            tg.sends_command(agent, "/start")
        await tg.wait_for(lambda: all("inbox" in m.content for m in (tg.last_sent(a) for a in agents) if m), WAIT)
        await tg.wait_for(lambda: all(len(tg.sent_to(a)) >= 2 for a in agents), WAIT, message=carebot.log())
        for j in range(4):
            for n, customer in enumerate(customers):
                tg.customer_sends_text(customer, f"c{n} m{j}")
        await tg.wait_for(lambda: sum(len(inbox_items(tg, a)) for a in agents) >= 6, WAIT, message=carebot.log())
        await carebot.stop(signal.SIGKILL)
        late = tg.customer_sends_text(customers[0], "c0 while down")
        restarted = await start_carebot(carebot.env, tmp_path / "carebot.log")
        try:
            await tg.wait_for(
                lambda: {*expected, late.text} <= {text for a in agents for _, text in inbox_items(tg, a)},
                WAIT * 2,
                message=restarted.log(),
            )
        finally:
            await restarted.stop()
    for agent in agents:
        items = inbox_items(tg, agent)
        counts = Counter(text for _, text in items)
        first_seen: dict[str, int] = {}
        for message_id, text in items:
            first_seen.setdefault(text, message_id)
        in_flight = {first_seen[text] for text, count in counts.items() if count > 1}
        assert len(in_flight) <= 1 and max(counts.values()) <= 2, counts
        for n in range(8):  # each customer's texts in order, all in one inbox
            mine = list(dict.fromkeys(text for _, text in items if text.startswith(f"c{n} m")))
            assert mine in ([], [f"c{n} m{j}" for j in range(4)])
    owners = {
        n: [a.id for a in agents if any(t.startswith(f"c{n} m") for _, t in inbox_items(tg, a))] for n in range(8)
    }
    assert all(len(found) == 1 for found in owners.values()), owners
    assert sorted(Counter(found[0] for found in owners.values()).values()) == [4, 4]  # by load
