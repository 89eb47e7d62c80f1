"""No message is lost to a handler that fails: it is tried again, in order, then parked for `carebot inbox retry`;
two workers or replicas meeting a new customer at once make one customer and one ticket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app as carebot
from bot.context import Services
from bot.runtime import metrics
from bot.runtime.dispatch import BACKOFF_SECONDS, ChatOrderedDispatcher
from bot.runtime.updates import accept, fetch_updates, resume
from bot.settings import Settings
from bot.tickets import filing
from scheduler.config import CareConfig
from storage import customers, tickets
from storage.db import transaction
from storage.models import Customer, InboxUpdate, OutboxMessage, Ticket, TicketMessage
from tests.botapi import FakeChat, FakeTelegram, FakeUser
from tests.care_support import fake_sender
from tests.harness import BotHarness, running_bot, texts_staff_see

STAFF = -100500
ERROR_TEXT = "Sorry, something went wrong"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en"})


@pytest.fixture
def staff(tg: FakeTelegram) -> FakeChat:
    return tg.group(STAFF, "Care team", members=[tg.user(900001, "Alice")])


@pytest.fixture
def anna(tg: FakeTelegram) -> FakeUser:
    return tg.user(7001, "Anna", language_code="en")


def database_fault() -> OperationalError:
    return OperationalError("INSERT INTO ticket_messages …", {}, Exception("could not serialize access"))


def filing_fails(monkeypatch: pytest.MonkeyPatch, fails: Callable[[str | None], bool]) -> None:
    """Filing a customer message raises while `fails(its text)` says so (an injected database fault). The fast
    lane fails too, so the handlers take every message: theirs is the filing that fails and is tried again."""
    real = tickets.file_in

    async def fast_lane_fails(*_args: Any, **_kwargs: Any) -> None:
        raise database_fault()

    monkeypatch.setattr(filing, "file_texts", fast_lane_fails)

    async def file_in(session: Any, **kwargs: Any) -> tickets.Filed:
        if fails(kwargs["incoming"].text):
            raise database_fault()
        return await real(session, **kwargs)

    monkeypatch.setattr(tickets, "file_in", file_in)


def told_error(tg: FakeTelegram, user: FakeUser) -> int:
    return sum(ERROR_TEXT in m.content for m in tg.sent_to(user))


async def inbox_rows(services: Services) -> dict[int, InboxUpdate]:
    async with services.sessions() as session:
        rows = (await session.execute(select(InboxUpdate).order_by(col(InboxUpdate.update_id)))).scalars()
        return {row.update_id: row for row in rows}


async def run_carebot(settings: Settings, *args: str) -> tuple[int, str]:
    """`carebot …` as an operator types it, against the test's database."""
    env = {"CAREBOT_DATABASE_URL": settings.database_url, "COLUMNS": "200"}
    result = await asyncio.to_thread(CliRunner().invoke, carebot, list(args), env=env)
    return result.exit_code, result.output


async def test_a_message_whose_handling_fails_once_reaches_staff_once_after_one_retry(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, anna: FakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = [True]
    filing_fails(monkeypatch, lambda _text: bool(faults) and faults.pop())
    question = tg.customer_sends_text(anna, "Hello, my order 1234 has not arrived")
    await bot.deliver()

    # tried again after a second (the test does not sleep it)
    assert bot.retry_waits.calls == pytest.approx([BACKOFF_SECONDS[0]], abs=0.5)
    assert texts_staff_see(tg, staff) == [question.text]
    assert sum(m.content.startswith("🎫 #1 ") for m in tg.sent_to(staff)) == 1
    assert told_error(tg, anna) == 1 and sum("ticket #1" in m.content for m in tg.sent_to(anna)) == 1
    (row,) = (await inbox_rows(bot.services)).values()
    assert row.processed_at is not None and row.attempts == 1 and row.last_error == "OperationalError"


async def test_a_message_that_always_fails_is_parked_with_one_alert_and_delivered_by_inbox_retry(
    bot: BotHarness,
    tg: FakeTelegram,
    staff: FakeChat,
    anna: FakeUser,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = True
    filing_fails(monkeypatch, lambda text: broken and text == "My parcel came broken")
    poison = tg.customer_sends_text(anna, "My parcel came broken")
    later = tg.customer_sends_text(anna, "Anyone there?")
    await bot.deliver()

    # Tried on the schedule while the chat's next message waited behind it, then parked; the chat moved on.
    assert bot.retry_waits.calls == pytest.approx(list(BACKOFF_SECONDS), abs=0.5)
    assert texts_staff_see(tg, staff) == [later.text]
    assert told_error(tg, anna) == 1
    rows = await inbox_rows(bot.services)
    first, second = sorted(rows)
    assert rows[first].parked_at is not None and rows[first].processed_at is None
    assert rows[first].attempts == len(BACKOFF_SECONDS) + 1 and rows[first].last_error == "OperationalError"
    assert rows[second].processed_at is not None

    # One alert to the staff chat (through the outbox): ids and the error's name, never the text.
    async with bot.services.sessions() as session:
        alerts = list((await session.execute(select(OutboxMessage))).scalars())
    assert [(a.chat_id, a.template) for a in alerts] == [(STAFF, "inbox.parked")]
    async with fake_sender(tg, bot.services.sessions, CareConfig(default_language="en", rate_limits=False)) as sender:
        await sender.drain()
    alert = tg.last_sent(staff)
    assert alert is not None and f"update {first}" in alert.content and f"chat {anna.id}" in alert.content
    assert "OperationalError" in alert.content and "broken" not in alert.content

    await metrics.read_database_gauges(bot.services.sessions)
    page = metrics.exposition()[0].decode()
    assert "\ncarebot_updates_parked 1.0" in page and "\ncarebot_update_retries_total " in page
    code, listed = await run_carebot(settings, "inbox", "failed")
    assert code == 0 and str(first) in listed and "message" in listed and "OperationalError" in listed
    assert "broken" not in listed
    code, output = await run_carebot(settings, "jobs", "list")
    assert code == 0 and "1 received update parked" in output

    broken = False  # the cause is fixed
    code, output = await run_carebot(settings, "inbox", "retry", str(first))
    assert code == 0 and f"handed back 1 update: {first}" in output
    assert await bot.pick_up_returned() == 1
    customer_texts = [text for text in texts_staff_see(tg, staff) if text in (later.text, poison.text)]
    assert customer_texts == [later.text, poison.text]  # the alert aside
    assert (await inbox_rows(bot.services))[first].processed_at is not None
    code, listed = await run_carebot(settings, "inbox", "failed")
    assert code == 0 and "No parked updates" in listed
    assert (await run_carebot(settings, "inbox", "retry", "--all"))[1].startswith("no parked update")


async def test_a_restart_keeps_the_retry_schedule_and_does_not_tell_the_customer_again(
    tg: FakeTelegram, staff: FakeChat, anna: FakeUser, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = [True, True]
    filing_fails(monkeypatch, lambda _text: bool(faults) and faults.pop())
    question = tg.customer_sends_text(anna, "Where is my refund?")
    scheduled = asyncio.Event()

    async def wait_forever(_seconds: float) -> None:
        scheduled.set()
        await asyncio.Event().wait()

    async with running_bot(tg, services) as first_run:
        dispatcher = ChatOrderedDispatcher(first_run.app, services.sessions, sleep=wait_forever)
        updates, _ = await fetch_updates(first_run.app.bot, offset=None, timeout=0)
        await accept(first_run.app, services.sessions, dispatcher, updates)
        await asyncio.wait_for(scheduled.wait(), 10)  # the first try failed, the next is a second away: stop now
        await dispatcher.cancel()
    (row,) = (await inbox_rows(services)).values()
    assert row.attempts == 1 and row.retry_at is not None and row.processed_at is None

    async with running_bot(tg, services) as second_run:
        assert await resume(second_run.app, services.sessions, second_run.dispatcher) == 1
        await second_run.settle()
        waits = second_run.retry_waits.calls
    assert (
        len(waits) == 2
        and 0 < waits[0] <= BACKOFF_SECONDS[0]
        and waits[1] == pytest.approx(BACKOFF_SECONDS[1], abs=0.5)
    )
    assert texts_staff_see(tg, staff) == [question.text]
    assert told_error(tg, anna) == 1


@contextlib.asynccontextmanager
async def meeting_at_touch(monkeypatch: pytest.MonkeyPatch, parties: int) -> AsyncIterator[None]:
    """Every `touch_customer` (a handler) and every fast-lane filing waits until `parties` of them have started:
    they go on at the same moment."""
    arrived = 0
    everyone = asyncio.Event()

    def meeting(real: Callable[..., Any]) -> Callable[..., Any]:
        async def met(tx_or_session: Any, **kwargs: Any) -> Any:
            nonlocal arrived
            arrived += 1
            if arrived >= parties:
                everyone.set()
            await asyncio.wait_for(everyone.wait(), 10)
            return await real(tx_or_session, **kwargs)

        return met

    with monkeypatch.context() as patched:
        patched.setattr(customers, "touch_customer", meeting(customers.touch_customer))
        patched.setattr(filing, "file_texts", meeting(filing.file_texts))
        yield


async def test_two_workers_meeting_a_new_customer_at_once_make_one_customer_and_one_ticket(
    tg: FakeTelegram,
    staff: FakeChat,
    anna: FakeUser,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    no_handler_errors: list[Any],
) -> None:
    """Two replicas (two Applications and dispatchers on one database; on SQLite, two chat workers) each get one of
    a new customer's first two messages, and both touch the customer at the same moment."""
    first = tg.customer_sends_text(anna, "Hello, is anyone there?")
    second = tg.sends_photo(anna, caption="the broken part")
    async with (
        running_bot(tg, services) as one,
        running_bot(tg, services) as other,
        meeting_at_touch(monkeypatch, parties=2),
    ):
        updates, _ = await fetch_updates(one.app.bot, offset=None, timeout=0)
        assert len(updates) == 2
        await asyncio.gather(
            accept(one.app, services.sessions, one.dispatcher, updates[:1]),
            accept(other.app, services.sessions, other.dispatcher, updates[1:]),
        )
        await asyncio.gather(one.settle(), other.settle())
        waits = one.retry_waits.calls + other.retry_waits.calls

    assert waits == []  # neither failed: nothing was tried again, nothing parked
    async with services.sessions() as session:
        people = list((await session.execute(select(Customer).where(col(Customer.telegram_id) == anna.id))).scalars())
        opened = list((await session.execute(select(Ticket))).scalars())
        messages = list((await session.execute(select(TicketMessage))).scalars())
    assert len(people) == 1 and len(opened) == 1
    assert sorted(m.customer_message_id or 0 for m in messages) == sorted([first.message_id, second.message_id])
    assert {m.ticket_id for m in messages} == {opened[0].id}
    rows = await inbox_rows(services)
    assert all(row.processed_at is not None and row.parked_at is None for row in rows.values())
    assert sum("ticket #1" in m.content for m in tg.sent_to(anna)) == 1


async def test_get_or_create_of_a_customer_holds_when_many_transactions_race(services: Services) -> None:
    """Eight transactions create the same customer at once: one row, exactly one of them created it."""

    async def touch() -> bool:
        async with transaction(services.sessions) as session:
            _, created = await customers.touch_customer(
                session, telegram_id=5550001, first_name="Race", last_name=None, username=None, language="en"
            )
            await asyncio.sleep(0.01)  # hold the transaction open a little, as a handler does
            return created

    created = await asyncio.gather(*(touch() for _ in range(8)))
    assert sorted(created) == [False] * 7 + [True]
    async with services.sessions() as session:
        rows = (await session.execute(select(Customer).where(col(Customer.telegram_id) == 5550001))).scalars().all()
    assert len(rows) == 1
