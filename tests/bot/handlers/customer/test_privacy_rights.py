"""A customer's rights: /privacy explains, /mydata hands over everything, /forget erases it for good."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from storage import customers, search
from storage.csv_export import export_customers
from storage.customers import ERASED_TELEGRAM_ID
from storage.db import sqlite_pragmas
from storage.models import (
    AuditEntry,
    Coupon,
    Customer,
    InboxUpdate,
    OutboxMessage,
    PendingInput,
    Purchase,
    SegmentChange,
    SurveyResponse,
    Ticket,
    TicketMessage,
)
from tests.botapi import FakeMessage, FakeTelegram
from tests.harness import BotHarness
from tests.ids import STAFF_CHAT_ID
from tests.privacy_support import AGENT_ID, leaks, seed_customer, text_dump

pytestmark = pytest.mark.usefixtures("no_handler_errors")


def forget_button(message: FakeMessage | None) -> str:
    assert message is not None
    return next(data for data in message.callback_data if data.startswith("privacy:forget:"))


async def test_privacy_explains_what_why_and_how_long_in_both_languages(bot: BotHarness, tg: FakeTelegram) -> None:
    en = tg.user(301, "Ann", language_code="en")
    zh = tg.user(302, "小红", language_code="zh-hans")
    tg.sends_command(en, "/privacy")
    tg.sends_command(zh, "/privacy")
    await bot.deliver()
    english = tg.last_sent(en).content  # type: ignore[union-attr]
    chinese = tg.last_sent(zh).content  # type: ignore[union-attr]
    for part in ("What we store", "Why", "Who sees it", "How long", "/mydata", "/forget", "anonymous amounts"):
        assert part in english
    for part in ("我们保存哪些信息", "为什么保存", "保存多久", "/mydata", "/forget"):
        assert part in chinese
    async with bot.services.sessions() as session:  # reading the policy stores nothing
        assert await customers.get_customer(session, telegram_id=301) is None


async def test_mydata_sends_everything_stored_and_nothing_internal(bot: BotHarness, tg: FakeTelegram) -> None:
    seeded = await seed_customer(bot, tg)
    tg.sends_command(seeded.user, "/mydata")
    await bot.deliver()
    sent = tg.last_sent(seeded.user)
    assert sent is not None and sent.upload is not None
    assert sent.upload.filename == "my-data.json" and "JSON" in sent.content
    document = json.loads(sent.upload.content.decode("utf-8"))

    profile = document["profile"]
    assert profile["first_name"] == "Zhivago" and profile["last_name"] == "Quillfeather"
    assert profile["phone"] == "+8613812345678" and profile["email"] == "zhivago.q@example.com"
    assert profile["birthday"] == "1990-05-17" and profile["segment"] == "returning"
    assert document["consent"]["proactive_opt_out"] is False and document["consent"]["consent_at"]
    assert [p["amount"] for p in document["purchases"]] == ["120.50", "80.00"]
    assert [c["to_segment"] for c in document["segment_history"]] == ["new", "returning"]
    tickets = {ticket["id"]: ticket for ticket in document["tickets"]}
    assert set(tickets) == {seeded.open_ticket, seeded.closed_ticket}
    assert [m["direction"] for m in tickets[seeded.open_ticket]["messages"]] == ["in", "out"]
    assert tickets[seeded.open_ticket]["messages"][0]["text"] == seeded.message_texts[0]
    assert document["survey_answers"][0]["comment"] == seeded.message_texts[3]
    assert len(document["gift_codes"]) == 1 and document["gift_codes"][0]["reason"] == "birthday"
    assert {m["kind"] for m in document["planned_messages"]} == {"birthday", "checkin"}

    flat = json.dumps(document, ensure_ascii=False)
    assert seeded.message_texts[2] not in flat  # the staff note
    assert str(AGENT_ID) not in flat  # no staff ids: authors, assignees, survey staff, redeemers
    assert "card_viewed" not in flat  # no audit rows
    assert "Ticket card" not in flat


async def test_mydata_for_someone_never_seen_stores_nothing(bot: BotHarness, tg: FakeTelegram) -> None:
    stranger = tg.user(303, "Nobody", language_code="en")
    tg.sends_command(stranger, "/mydata")
    tg.sends_command(stranger, "/forget")
    await bot.deliver()
    assert [m.content for m in tg.sent_to(stranger)] == ["We store nothing about you."] * 2
    async with bot.services.sessions() as session:
        assert await customers.get_customer(session, telegram_id=303) is None


async def test_forget_erases_every_trace_and_start_makes_a_new_potential_customer(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    seeded = await seed_customer(bot, tg)
    other = await seed_customer(
        bot,
        tg,
        5151,
        first_name="Ottilie",
        last_name="Marchbanks",
        username="om_other",
        phone="+4915112345678",
        email="ottilie@example.org",
        tag="OM",
    )
    tg.sends_command(seeded.user, "/forget")
    await bot.deliver()
    confirm = tg.last_sent(seeded.user)
    assert confirm is not None and "cannot be undone" in confirm.content
    tg.presses_button(seeded.user, confirm, forget_button(confirm))
    await bot.deliver()
    assert "Your data is erased" in tg.last_sent(seeded.user).content  # type: ignore[union-attr]
    assert tg.message(seeded.user, confirm.message_id).buttons == []  # type: ignore[union-attr]

    # Nothing personal is left anywhere in the database; the other customer keeps everything.
    dump = await text_dump(bot.services.engine)
    assert leaks(dump, seeded.secrets) == []
    assert leaks(dump, other.secrets)

    async with bot.services.sessions() as session:
        assert await customers.get_customer(session, telegram_id=seeded.user.id) is None
        assert await session.get(Customer, seeded.customer_id) is None
        placeholder = await customers.get_customer(session, telegram_id=ERASED_TELEGRAM_ID)
        assert placeholder is not None and placeholder.id is not None
        assert (placeholder.total_spent, placeholder.purchase_count, placeholder.segment) == (0, 0, "potential")
        assert placeholder.proactive_opt_out and placeholder.unreachable
        kept = (await session.execute(select(Purchase).where(Purchase.customer_id == placeholder.id))).scalars().all()
        assert sorted(p.amount for p in kept) == [Decimal("80.00"), Decimal("120.50")]
        assert all(p.note is None and p.reference.startswith("erased-") for p in kept)
        tickets = {t.id: t for t in (await session.execute(select(Ticket))).scalars()}
        assert tickets[seeded.open_ticket].status == "closed" and tickets[seeded.open_ticket].closed_at
        assert tickets[seeded.open_ticket].customer_id == placeholder.id
        messages = (
            (await session.execute(select(TicketMessage).where(TicketMessage.ticket_id == seeded.open_ticket)))
            .scalars()
            .all()
        )
        assert len(messages) == 3 and all(m.text is None and m.file_id is None for m in messages)
        survey = (
            await session.execute(select(SurveyResponse).where(SurveyResponse.ticket_id == seeded.closed_ticket))
        ).scalar_one()
        assert survey.score == 4 and survey.comment is None and survey.customer_id is None
        assert (await session.execute(select(Coupon).where(Coupon.customer_id.is_(None)))).scalars().all()  # type: ignore[union-attr]
        outbox = (
            (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == ERASED_TELEGRAM_ID)))
            .scalars()
            .all()
        )
        assert {(m.kind, m.status, m.params) for m in outbox} == {
            ("birthday", "skipped", "{}"),
            ("checkin", "sent", "{}"),
        }
        assert not (await session.execute(select(PendingInput).where(PendingInput.user_id == seeded.user.id))).all()
        assert not (
            await session.execute(select(SegmentChange).where(SegmentChange.customer_id == seeded.customer_id))
        ).all()
        payloads = (
            await session.execute(select(InboxUpdate.payload).where(InboxUpdate.chat_id == seeded.user.id))
        ).scalars()
        assert set(payloads) == {""}
        trail = (
            (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.customer_id == seeded.customer_id).order_by(AuditEntry.id)
                )
            )
            .scalars()
            .all()
        )
        assert [(e.action, e.actor_telegram_id) for e in trail] == [
            ("card_viewed", AGENT_ID),
            ("customer_erased", None),
        ]
        assert trail[-1].detail == f"closed tickets #{seeded.open_ticket}"

    # Staff hear the ticket is closed (a number, nothing personal); the bot's copies in the staff chat are gone.
    staff_note = tg.last_sent(STAFF_CHAT_ID)
    assert staff_note is not None
    assert (
        staff_note.content == f"A customer erased their data; ticket #{seeded.open_ticket} is closed."
    )  # the staff language
    assert all(tg.message(STAFF_CHAT_ID, message_id) is None for message_id in seeded.staff_copies)

    # Coming back: a new, potential customer with a new record.
    tg.sends_command(seeded.user, "/start")
    await bot.deliver()
    assert "Hello, Zhivago" in tg.last_sent(seeded.user).content  # type: ignore[union-attr]
    async with bot.services.sessions() as session:
        again = await customers.get_customer(session, telegram_id=seeded.user.id)
        assert again is not None and again.id != seeded.customer_id
        assert (again.segment, again.purchase_count, again.phone, again.email) == ("potential", 0, None, None)


async def test_a_second_erasure_reuses_the_anonymous_record(bot: BotHarness, tg: FakeTelegram) -> None:
    first = await seed_customer(bot, tg)
    second = await seed_customer(bot, tg, 5151, first_name="Ottilie", username="om", tag="OM")
    for seeded in (first, second):
        tg.sends_command(seeded.user, "/forget")
        await bot.deliver()
        tg.presses_button(seeded.user, tg.last_sent(seeded.user), forget_button(tg.last_sent(seeded.user)))  # type: ignore[arg-type]
        await bot.deliver()
    async with bot.services.sessions() as session:
        placeholders = (
            await session.execute(select(func.count()).where(Customer.telegram_id == ERASED_TELEGRAM_ID))
        ).scalar()
        anonymous = (await session.execute(select(func.count(Purchase.id)))).scalar()  # type: ignore[arg-type]
    assert placeholders == 1 and anonymous == 4
    assert leaks(await text_dump(bot.services.engine), first.secrets + second.secrets) == []
    # The placeholder is no person: staff searches and the customers export leave it out.
    async with bot.services.sessions() as session:
        assert await search.lookup_customers(session, query=str(ERASED_TELEGRAM_ID)) == []
        assert await search.lookup_customers(session, query="erased") == []
        assert b"erased" not in await export_customers(session)


async def test_keeping_the_data_changes_nothing(bot: BotHarness, tg: FakeTelegram) -> None:
    seeded = await seed_customer(bot, tg)
    tg.sends_command(seeded.user, "/forget")
    await bot.deliver()
    tg.presses_button(seeded.user, tg.last_sent(seeded.user), "privacy:keep")  # type: ignore[arg-type]
    await bot.deliver()
    assert tg.last_sent(seeded.user).content == "Nothing was changed. Your data is kept."  # type: ignore[union-attr]
    async with bot.services.sessions() as session:
        customer = await customers.get_customer(session, telegram_id=seeded.user.id)
    assert customer is not None and customer.phone == "+8613812345678"


async def test_an_old_forget_button_expires_and_erases_nothing(bot: BotHarness, tg: FakeTelegram) -> None:
    seeded = await seed_customer(bot, tg)
    tg.sends_command(seeded.user, "/forget")
    await bot.deliver()
    confirm = tg.last_sent(seeded.user)
    with time_machine.travel(timedelta(hours=2), tick=True):
        press = tg.presses_button(seeded.user, confirm, forget_button(confirm))  # type: ignore[arg-type]
        await bot.deliver()
    answer = tg.callback_queries[press.data["callback_query"]["id"]].answer
    assert "expired" in answer["text"] and answer["show_alert"] is True
    async with bot.services.sessions() as session:
        assert await customers.get_customer(session, telegram_id=seeded.user.id) is not None


def database_files(url: str) -> dict[str, bytes]:
    """The raw bytes of a SQLite database and its write-ahead log, as a file-level backup would copy them."""
    path = Path(make_url(url).database or "")
    return {p.name: p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()}


async def test_forget_leaves_no_byte_of_the_customer_in_the_database_files(bot: BotHarness, tg: FakeTelegram) -> None:
    seeded = await seed_customer(bot, tg)
    written = "where is my parcel QX-4471-umbrella, call me on the landline"
    tg.customer_sends_text(seeded.user, written)  # through the inbox, a ticket and the staff relay
    await bot.deliver()
    tg.sends_command(seeded.user, "/forget")
    await bot.deliver()
    confirm = tg.last_sent(seeded.user)
    url = bot.services.settings.database_url
    on_sqlite = url.startswith("sqlite")
    async with bot.services.engine.connect() as connection:
        pressed_at = None if on_sqlite else (await connection.execute(text("SELECT clock_timestamp()"))).scalar()
    tg.presses_button(seeded.user, confirm, forget_button(confirm))  # type: ignore[arg-type]
    await bot.deliver()
    assert "Your data is erased" in tg.last_sent(seeded.user).content  # type: ignore[union-attr]

    if not on_sqlite:
        # PostgreSQL keeps deleted rows as dead tuples until a vacuum: the tables that held them were vacuumed.
        async with bot.services.engine.connect() as connection:
            vacuumed = await connection.execute(
                text("SELECT relname FROM pg_stat_user_tables WHERE last_vacuum >= :pressed_at"),
                {"pressed_at": pressed_at},
            )
            assert {"customers", "ticket_messages", "inbox"} <= set(vacuumed.scalars())
        return
    # The bot is still running (its engine open): what a backup of the files would copy holds nothing of them.
    files = database_files(url)
    assert "carebot.db" in files
    secrets = [*seeded.secrets, written, "QX-4471"]
    found = {
        (name, secret)
        for name, data in files.items()
        for secret in secrets
        if secret.encode() in data or secret.lower().encode() in data.lower()
    }
    assert found == set()


def test_every_sqlite_connection_zeroes_what_it_deletes() -> None:
    """Whatever the SQLite build's default (Debian's is on, upstream's off), Carebot's connections turn it on."""
    connection = sqlite3.connect(":memory:")
    connection.execute("PRAGMA secure_delete=OFF")
    sqlite_pragmas(connection, None)
    assert connection.execute("PRAGMA secure_delete").fetchone() == (1,)
    connection.close()
