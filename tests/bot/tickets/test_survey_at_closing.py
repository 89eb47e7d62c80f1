"""The satisfaction survey comes with the closing: right after the closing message, once, even after a crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import time_machine

from bot.runtime.scheduling import register_sender
from bot.settings import Settings
from scheduler.jobs import run_job
from scheduler.jobs.csat import HOLD_AT_CLOSING, plan_at_closing, survey_key
from scheduler.sender import OutboxSender
from storage import tickets
from storage.db import transaction
from storage.types import utcnow
from tests.botapi import FakeChat, FakeMessage, FakeTelegram, FakeUser
from tests.care_support import fake_sender, outbox_rows
from tests.harness import BotHarness

SURVEY = "How did we do"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en", "quiet_hours": ""})


@pytest.fixture
def anna(tg: FakeTelegram) -> FakeUser:
    return tg.user(7001, "Anna", language_code="en")


@pytest.fixture
async def sender(bot: BotHarness, tg: FakeTelegram, settings: Settings) -> AsyncIterator[OutboxSender]:
    """The outbox sender running beside the bot, as `carebot run` starts it; it idles far longer than a second,
    so a survey that arrives within one was woken for."""
    async with fake_sender(tg, bot.services.sessions, settings) as running:
        register_sender(bot.app, running)
        task = asyncio.create_task(running.run(idle_seconds=60))
        await asyncio.sleep(0.05)  # its first (empty) drain
        try:
            yield running
        finally:
            register_sender(bot.app, None)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def open_ticket(bot: BotHarness, tg: FakeTelegram, anna: FakeUser) -> None:
    tg.customer_sends_text(anna, "My parcel is damaged")
    await bot.deliver()


def surveys_to(tg: FakeTelegram, anna: FakeUser) -> list[FakeMessage]:
    return [m for m in tg.sent_to(anna) if SURVEY in m.content]


async def survey_after(tg: FakeTelegram, anna: FakeUser, closing_text: str) -> FakeMessage:
    """Waits (at most a second) for the survey; it must be the customer's next message after the closing one."""
    survey = await tg.wait_for(lambda: next(iter(surveys_to(tg, anna)), None), timeout=1.0)
    messages = [m.content for m in tg.sent_to(anna)]
    closing = next(n for n, text in enumerate(messages) if closing_text in text)
    assert SURVEY in messages[closing + 1], messages
    closing_call, survey_call = (
        next(
            c
            for c in tg.calls_to("sendMessage")
            if str(c.params.get("chat_id")) == str(anna.id) and key in str(c.params)
        )
        for key in (closing_text, SURVEY)
    )
    assert survey_call.at - closing_call.at < 1.0
    return survey


async def test_staff_closing_brings_the_survey_at_once_and_never_twice(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser, admin: FakeUser, sender: OutboxSender
) -> None:
    await open_ticket(bot, tg, anna)
    tg.sends_command(admin, "/close 1", staff)
    await bot.deliver()
    survey = await survey_after(tg, anna, "ticket #1 is closed")
    assert [button for button in survey.callback_data if button.startswith("care:csat:1:")] == [
        f"care:csat:1:{score}" for score in range(1, 6)
    ]

    tg.sends_command(admin, "/close 1", staff)  # closed already
    await bot.deliver()
    tg.customer_sends_text(anna, "It broke again")  # reopens it
    await bot.deliver()
    tg.sends_command(admin, "/close 1", staff)
    await bot.deliver()
    assert await run_job("csat", sessions=bot.services.sessions, config=bot.services.settings) == 0
    await sender.drain()
    assert len(surveys_to(tg, anna)) == 1
    assert [row.key for row in await outbox_rows(bot.services.sessions, kind="csat")] == [survey_key(1)]


async def test_a_customer_closing_their_own_ticket_gets_the_survey_right_after(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser, sender: OutboxSender
) -> None:
    await open_ticket(bot, tg, anna)
    tg.sends_command(anna, "/tickets")
    await bot.deliver()
    tg.presses_button(anna, tg.last_sent(anna), "tickets:close:1")  # type: ignore[arg-type]
    await bot.deliver()
    await survey_after(tg, anna, "Ticket #1 is closed")


async def test_a_crash_between_closing_and_the_closing_message_only_delays_the_survey(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser
) -> None:
    await open_ticket(bot, tg, anna)
    sessions, settings = bot.services.sessions, bot.services.settings
    closed_at = utcnow()
    async with transaction(sessions) as session:  # what the close committed before the process died
        ticket = await tickets.get_ticket(session, ticket_id=1)
        assert ticket is not None and tickets.close(ticket)
        session.add(ticket)
        assert await plan_at_closing(session, ticket_ids=[1], now=closed_at, hold=HOLD_AT_CLOSING) == 1
    async with fake_sender(tg, sessions, settings) as sender:
        await sender.drain()
        assert surveys_to(tg, anna) == []  # held for a closing message that never went
        with time_machine.travel(closed_at + HOLD_AT_CLOSING + timedelta(seconds=1)):
            assert await run_job("csat", sessions=sessions, config=settings) == 0  # planned already
            await sender.drain()
            await sender.drain()
    assert len(surveys_to(tg, anna)) == 1
