"""Long polling through a burst larger than one getUpdates answer: the rest is fetched at once, and staff see each
customer's texts of the burst together, on their ticket's card."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from bot.runtime.updates import POLL_TIMEOUT_SECONDS, poll
from bot.settings import Settings
from bot.tickets import relay as relay_module
from tests.botapi import FakeTelegram, FakeUser
from tests.harness import BotHarness, texts_shown_by
from tests.ids import STAFF_CHAT_ID


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en"})


async def test_a_burst_of_150_texts_is_fetched_without_waiting_and_reaches_staff_one_card_per_customer(
    bot: BotHarness, tg: FakeTelegram, admin: FakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # However slow the machine, the relay's pass waits for the burst (in production half a second at most).
    monkeypatch.setattr(relay_module, "GATHER_SECONDS", 60.0)
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[admin])
    customers = [tg.user(7600 + i, f"Customer{i}") for i in range(5)]
    await bot.settle()
    for n in range(150):
        tg.customer_sends_text(customers[n % 5], f"text {n}")
    first_call = len(tg.calls)
    poller = asyncio.create_task(poll(bot.app, bot.services.sessions, bot.dispatcher))
    try:
        cards = await tg.wait_for(lambda: len(tg.sent_to(staff)) == 5 and tg.sent_to(staff), 30, message="5 cards")
        await bot.settle()
        await tg.wait_for(lambda: tg.polls_waiting > 0, 10, message="long polling again")
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
    polls = [
        (call.params["timeout"], len(call.result or []))
        for call in tg.calls[first_call:]
        if call.method == "getUpdates"
    ]
    assert polls == [(POLL_TIMEOUT_SECONDS, 100), (0, 50)]  # then a long poll again (cancelled)
    assert len(tg.sent_to(staff)) == 5
    for i, card in enumerate(sorted(cards, key=lambda m: m.message_id)):
        assert card.content.startswith(f"🎫 #{i + 1} · Customer{i}")
        assert texts_shown_by(card) == [f"text {n}" for n in range(i, 150, 5)]
