"""A customer's rights over their data, in one place: everything stored about them, and erasing it.

Export: `SECTIONS` lists the customer-linked tables and the fields a customer sees; a table added later (say,
agreement acceptances) is one more `Section(...)` line, and `tests/storage/test_privacy_export.py` fails until every table
with a `customer_id` column is either exported here or named in `NOT_EXPORTED` with the reason.

Erasure: personal data goes; what the business must keep for its accounts stays, detached from the person.
Purchases (amount, currency, date) and tickets (numbers and timestamps, for response-time statistics) move to one
shared placeholder, the *erased customers* record, which holds no personal data, has zero totals (so no segment or
total can point back to one person), is never contacted, and is left out of lists and counts
(`storage.customers.is_person`). The customer's own row is deleted, so their Telegram
id matches nothing and a later `/start` makes them a new, `potential` customer.

Erased means erased on disk too. SQLite runs with `secure_delete` (storage/db.py), so deleted and overwritten
content is zeroed in place; after the commit a `TRUNCATE` checkpoint copies the changed pages into the database
file and empties the write-ahead log, which still held every earlier version of the rows. PostgreSQL keeps deleted
rows as dead tuples until a vacuum: the tables that held the customer's texts are vacuumed after the commit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import String, cast, delete, literal, or_, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import SQLModel, col, select

from storage import agreements, business, inbox, search_index
from storage.customers import ERASED_TELEGRAM_ID
from storage.db import SessionFactory, is_sqlite, transaction
from storage.models import (
    Coupon,
    Customer,
    InboxUpdate,
    OutboxMessage,
    OutboxStatus,
    PendingInput,
    Purchase,
    SegmentChange,
    SurveyResponse,
    Ticket,
    TicketMessage,
    TicketStatus,
)
from storage.models.agreement import AgreementAcceptance
from storage.models.staff_work import CustomerNote
from storage.outbox import insert_ignoring_duplicates
from storage.staff import audit
from storage.types import utcnow

log = logging.getLogger(__name__)

ERASED_NAME = "(erased customers)"
# Ticket messages a customer sees: their own (`in`) and staff answers (`out`); `note` is internal to staff.
CUSTOMER_VISIBLE_DIRECTIONS = ("in", "out")

PROFILE_FIELDS = (
    "telegram_id",
    "first_name",
    "last_name",
    "username",
    "phone",
    "email",
    "birthday",
    "language",
    "timezone",
    "segment",
    "segment_since",
    "total_spent",
    "purchase_count",
    "created_at",
    "updated_at",
    "last_confirmed_at",
    "last_contact_at",
)
CONSENT_FIELDS = ("consent_at", "proactive_opt_out", "unreachable")


@dataclass(frozen=True)
class Section:
    """One part of the export: the rows of `model` whose `customer_id` is the customer's, with these fields."""

    name: str
    model: type[SQLModel]
    fields: tuple[str, ...]
    order_by: str = "id"


SECTIONS: tuple[Section, ...] = (
    Section(
        "purchases", Purchase, ("amount", "currency", "occurred_at", "reference", "refunded_at"), order_by="occurred_at"
    ),
    Section("segment_history", SegmentChange, ("from_segment", "to_segment", "reason", "changed_at")),
    Section("survey_answers", SurveyResponse, ("kind", "ticket_id", "score", "comment", "created_at")),
    Section("gift_codes", Coupon, ("code", "reason", "value", "currency", "expires_at", "redeemed_at", "created_at")),
    Section("planned_messages", OutboxMessage, ("kind", "status", "not_before", "sent_at")),
    Section(
        "agreements",
        AgreementAcceptance,
        ("version", "channel", "accepted_at", "valid_until", "signed_on"),
        order_by="accepted_at",
    ),
)
# Exported by their own code below (nested or joined), or deliberately not exported.
EXPORTED_ELSEWHERE = {"customers": "the profile", "tickets": "tickets with their messages"}
NOT_EXPORTED = {
    "audit_log": "internal to staff: which staff member looked at the record, ids only",
    "customer_notes": "internal to staff: notes staff keep on the customer (erased with the customer)",
    "account_managers": "internal to staff: which staff member looks after a VIP customer (shown to the customer "
    "by first name in /profile; erased with the customer)",
}

TICKET_FIELDS = ("id", "category", "status", "opened_at", "first_response_at", "resolved_at", "closed_at")
MESSAGE_FIELDS = ("direction", "kind", "text", "created_at", "edited_at")


def _plain(value: Any) -> Any:
    """A JSON-ready value: money and dates as text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _pick(row: Any, fields: Sequence[str]) -> dict[str, Any]:
    return {name: _plain(getattr(row, name)) for name in fields}


async def _section_rows(session: AsyncSession, section: Section, customer_id: int) -> list[dict[str, Any]]:
    model: Any = section.model
    result = await session.execute(
        select(model).where(model.customer_id == customer_id).order_by(getattr(model, section.order_by), model.id)
    )
    return [_pick(row, section.fields) for row in result.scalars()]


async def _tickets(session: AsyncSession, customer_id: int) -> list[dict[str, Any]]:
    tickets = list(
        (
            await session.execute(select(Ticket).where(col(Ticket.customer_id) == customer_id).order_by(col(Ticket.id)))
        ).scalars()
    )
    messages: dict[int, list[dict[str, Any]]] = {ticket.id: [] for ticket in tickets if ticket.id is not None}
    if messages:
        result = await session.execute(
            select(TicketMessage)
            .where(
                col(TicketMessage.ticket_id).in_(messages),
                col(TicketMessage.direction).in_(CUSTOMER_VISIBLE_DIRECTIONS),
            )
            .order_by(col(TicketMessage.created_at), col(TicketMessage.id))
        )
        for message in result.scalars():
            messages[message.ticket_id].append(_pick(message, MESSAGE_FIELDS))
    return [{**_pick(ticket, TICKET_FIELDS), "messages": messages.get(ticket.id or 0, [])} for ticket in tickets]


def _profile(customer: Customer) -> dict[str, Any]:
    values = {name: getattr(customer, name) for name in PROFILE_FIELDS if name != "birthday"}
    values["birthday"] = customer.birthday_text
    return {name: _plain(values[name]) for name in PROFILE_FIELDS}


async def export_customer_data(session: AsyncSession, *, customer_id: int) -> dict[str, Any]:
    """Everything stored about the customer that is theirs to see; nothing internal to staff."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise LookupError(f"no customer {customer_id}")
    document: dict[str, Any] = {
        "generated_at": _plain(utcnow()),
        "profile": _profile(customer),
        "consent": {name: _plain(getattr(customer, name)) for name in CONSENT_FIELDS},
        "tickets": await _tickets(session, customer_id),
    }
    for section in SECTIONS:
        document[section.name] = await _section_rows(session, section, customer_id)
    return document


def export_json(document: dict[str, Any]) -> bytes:
    """The export as a UTF-8 JSON file, readable by people (non-ASCII kept, indented)."""
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


# --------------------------------------------------------------------------------------------------- erasure


@dataclass(frozen=True)
class StaffCopy:
    """A message the bot posted in a staff chat about the customer: deleted afterwards where Telegram allows."""

    chat_id: int
    message_id: int


@dataclass(frozen=True)
class TicketTopic:
    """A ticket's forum topic in a staff chat, whose name may hold the customer's name."""

    chat_id: int
    thread_id: int
    ticket_id: int


@dataclass(frozen=True)
class Erasure:
    customer_id: int
    closed_tickets: list[int] = field(default_factory=list)
    staff_copies: list[StaffCopy] = field(default_factory=list)
    staff_topics: list[TicketTopic] = field(default_factory=list)


async def erased_customers_record(session: AsyncSession) -> Customer:
    """The shared placeholder for erased customers' purchases and tickets, created on first use."""
    now = utcnow()
    values = {
        "telegram_id": ERASED_TELEGRAM_ID,
        "first_name": ERASED_NAME,
        "language": "en",
        "segment": "potential",
        "segment_since": now,
        "total_spent": Decimal("0"),
        "purchase_count": 0,
        "proactive_opt_out": True,
        "unreachable": True,
        "created_at": now,
        "updated_at": now,
    }
    table = Customer.__table__  # type: ignore[attr-defined]
    await session.execute(insert_ignoring_duplicates(session, table, ["telegram_id"]).values(**values))
    result = await session.execute(select(Customer).where(col(Customer.telegram_id) == ERASED_TELEGRAM_ID))
    return result.scalar_one()


# The tables an erasure deletes or overwrites the customer's texts in: vacuumed on PostgreSQL afterwards.
SCRUBBED_TABLES: tuple[type[SQLModel], ...] = (
    Customer,
    TicketMessage,
    SurveyResponse,
    CustomerNote,
    Purchase,
    OutboxMessage,
    PendingInput,
    InboxUpdate,
)


async def erase_customer(sessions: SessionFactory, *, customer_id: int, update_id: int | None = None) -> Erasure | None:
    """Erase the customer's personal data and commit, then leave none of it in the database files
    (`scrub_database_files`); None when there is no such customer.

    `update_id` is the inbox update that asked for the erasure: its stored payload names the customer, so it is
    marked handled (and its payload dropped) in the same transaction.
    """
    async with transaction(sessions) as session:
        erasure = await erase_records(session, customer_id=customer_id)
        if erasure is not None and update_id is not None:
            await inbox.mark_processed(session, update_id=update_id)
        engine = session.bind
    if erasure is not None:
        assert isinstance(engine, AsyncEngine)
        await scrub_database_files(engine)
    return erasure


async def scrub_database_files(engine: AsyncEngine) -> None:
    """After an erasure's commit: SQLite empties its write-ahead log into the database file (`TRUNCATE`
    checkpoint; `secure_delete` zeroed the erased content there); PostgreSQL vacuums the tables that held it.

    VACUUM cannot run in a transaction, hence the autocommit connection; plain VACUUM takes no lock that blocks
    reads or writes, and `SKIP_LOCKED` passes over a table another vacuum is working on.
    """
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        if is_sqlite(str(engine.url)):
            busy, _, _ = (await autocommit.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
            if busy:  # a reader held on past the busy timeout: the next checkpoint completes it
                log.warning("erasure: the write-ahead log could not be emptied yet (database busy)")
            return
        tables = ", ".join(str(model.__tablename__) for model in SCRUBBED_TABLES)
        await autocommit.execute(text(f"VACUUM (SKIP_LOCKED) {tables}"))


async def erase_records(session: AsyncSession, *, customer_id: int) -> Erasure | None:
    """Erase the customer's personal data in the caller's transaction; None when there is no such customer.

    `erase_customer` does this and then scrubs the database files: use that, unless this is part of more work.
    """
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.telegram_id == ERASED_TELEGRAM_ID:
        return None
    telegram_id = customer.telegram_id
    placeholder = await erased_customers_record(session)
    now = utcnow()
    await agreements.forget_acceptances(session, customer_id=customer_id)  # only an anonymous count survives

    tickets = list((await session.execute(select(Ticket).where(col(Ticket.customer_id) == customer_id))).scalars())
    ticket_ids = [ticket.id for ticket in tickets if ticket.id is not None]
    closed = sorted(t.id for t in tickets if t.id is not None and t.status != TicketStatus.CLOSED.value)
    copies = [StaffCopy(t.staff_chat_id, t.card_message_id) for t in tickets if t.staff_chat_id and t.card_message_id]
    topics = [
        TicketTopic(t.staff_chat_id, t.staff_thread_id, t.id)
        for t in tickets
        if t.staff_chat_id and t.staff_thread_id and t.id is not None
    ]
    if ticket_ids:
        incoming = await session.execute(
            select(TicketMessage.staff_chat_id, TicketMessage.staff_message_id).where(
                col(TicketMessage.ticket_id).in_(ticket_ids),
                col(TicketMessage.direction) == "in",
                col(TicketMessage.staff_message_id).is_not(None),
            )
        )
        copies += [StaffCopy(chat, message) for chat, message in incoming.all() if chat is not None and message]
        await session.execute(
            update(TicketMessage)
            .where(col(TicketMessage.ticket_id).in_(ticket_ids))
            .values(text=None, file_id=None, media_group_id=None, customer_chat_id=None)
        )
        await session.execute(
            update(TicketMessage)
            .where(col(TicketMessage.ticket_id).in_(ticket_ids), col(TicketMessage.direction) == "in")
            .values(author_telegram_id=None)
        )
        await session.execute(
            update(Ticket)
            .where(col(Ticket.id).in_(closed))
            .values(status=TicketStatus.CLOSED.value, closed_at=now, updated_at=now)
        )
        await session.execute(update(Ticket).where(col(Ticket.id).in_(ticket_ids)).values(customer_id=placeholder.id))

    # Purchases stay as amounts and dates; the reference and note could name the person or an order of theirs.
    await session.execute(
        update(Purchase)
        .where(col(Purchase.customer_id) == customer_id)
        .values(
            customer_id=placeholder.id,
            reference=literal("erased-") + cast(col(Purchase.id), String),
            note=None,
        )
    )
    await session.execute(
        update(SurveyResponse)
        .where(col(SurveyResponse.customer_id) == customer_id)
        .values(comment=None, customer_id=None)
    )
    await session.execute(update(Coupon).where(col(Coupon.customer_id) == customer_id).values(customer_id=None))
    await _erase_outbox(session, customer_id=customer_id, telegram_id=telegram_id)
    await business.forget_chats(session, chat_id=telegram_id)  # their business chats' activity times
    await session.execute(
        delete(PendingInput).where(
            or_(col(PendingInput.user_id) == telegram_id, col(PendingInput.chat_id) == telegram_id)
        )
    )
    # Handled updates already lost their payload; one still queued keeps it until it is handled (and then loses it).
    await session.execute(
        update(InboxUpdate)
        .where(col(InboxUpdate.chat_id) == telegram_id, col(InboxUpdate.processed_at).is_not(None))
        .values(payload="")
    )
    await session.execute(delete(SegmentChange).where(col(SegmentChange.customer_id) == customer_id))
    await session.execute(delete(CustomerNote).where(col(CustomerNote.customer_id) == customer_id))
    await session.delete(customer)
    await audit(
        session,
        actor_telegram_id=None,
        action="customer_erased",
        customer_id=customer_id,
        detail=("closed tickets " + " ".join(f"#{n}" for n in closed)) if closed else None,
    )
    await session.flush()
    await search_index.forget_erased(session)
    return Erasure(customer_id=customer_id, closed_tickets=closed, staff_copies=copies, staff_topics=topics)


async def _erase_outbox(session: AsyncSession, *, customer_id: int, telegram_id: int) -> None:
    """Nothing more is sent; rows already sent keep only their kind, status and dates (for the reports)."""
    theirs = or_(col(OutboxMessage.customer_id) == customer_id, col(OutboxMessage.chat_id) == telegram_id)
    waiting = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)
    await session.execute(
        update(OutboxMessage)
        .where(theirs, col(OutboxMessage.status).in_(waiting))
        .values(status=OutboxStatus.SKIPPED.value, last_error="customer erased their data")
    )
    await session.execute(
        update(OutboxMessage)
        .where(theirs)
        .values(customer_id=None, chat_id=ERASED_TELEGRAM_ID, params="{}", telegram_message_id=None)
    )
