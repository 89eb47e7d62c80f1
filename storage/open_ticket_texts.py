"""The common case of many customers writing to their open tickets at once, filed in a few set-based statements
(the fast lane's group commit, bot/tickets/filing.py): the same result as `storage.tickets.file_customer_message`
one message at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from storage import staff_deliveries
from storage.models import Customer, PendingInput, Ticket, TicketMessage, TicketStatus
from storage.outbox import insert_ignoring_duplicates
from storage.tickets import IncomingMessage
from storage.types import clean_text, utcnow


@dataclass(frozen=True)
class TextRun:
    """A customer's next texts (in order) and who they are on Telegram now."""

    telegram_id: int
    first_name: str | None
    last_name: str | None
    username: str | None
    texts: Sequence[IncomingMessage]


async def append_to_open_tickets(
    session: AsyncSession, *, runs: Sequence[TextRun], now: datetime | None = None
) -> set[int]:
    """The common case for many customers at once, in a few statements: texts of customers whose latest ticket
    is open and for whom no dialog step waits. Each such customer is touched and their texts stored and queued
    for staff, as `touch_customer` and `file_customer_message` do one message at a time. Returns the Telegram ids
    of the customers whose texts were stored; the others' are left alone (theirs is another case).
    """
    now = now or utcnow()
    by_customer = {run.telegram_id: run for run in runs}
    if not by_customer:
        return set()
    newer = aliased(Ticket)
    latest = select(func.max(newer.id)).where(newer.customer_id == Customer.id).correlate(Customer).scalar_subquery()
    dialog = select(PendingInput.chat_id).where(
        col(PendingInput.chat_id) == col(Customer.telegram_id), col(PendingInput.user_id) == col(Customer.telegram_id)
    )
    found = await session.execute(
        select(col(Customer.telegram_id), col(Customer.id), col(Ticket.id), col(Ticket.inbox_chat_id))
        .join(Ticket, col(Ticket.customer_id) == col(Customer.id))
        .where(
            col(Customer.telegram_id).in_(by_customer),
            col(Ticket.id) == latest,
            col(Ticket.status) == TicketStatus.OPEN,
            ~dialog.exists(),
        )
    )
    candidates = found.all()
    targets = {telegram_id: (customer_id, ticket_id) for telegram_id, customer_id, ticket_id, _ in candidates}
    inboxes = {ticket_id: inbox for _, _, ticket_id, inbox in candidates}
    if not targets:
        return set()
    # The customers first, then their tickets: the order a handler takes them in (`touch_customer`, then the
    # ticket), so that a handler of another replica and this never wait for each other in a circle.
    customers = Customer.__table__  # type: ignore[attr-defined]
    await session.execute(
        customers.update()
        .where(customers.c.id == bindparam("customer"))
        .values(
            first_name=bindparam("first"),
            last_name=bindparam("last"),
            username=bindparam("user"),
            last_contact_at=now,
            updated_at=now,
        ),
        [
            {
                "customer": customer_id,
                "first": clean_text(by_customer[telegram_id].first_name),
                "last": clean_text(by_customer[telegram_id].last_name),
                "user": clean_text(by_customer[telegram_id].username),
            }
            for telegram_id, (customer_id, _) in sorted(targets.items(), key=lambda item: item[1][0])
        ],
    )
    still_open = await session.execute(  # staff may have answered or closed one a moment ago
        update(Ticket)
        .where(col(Ticket.id).in_([ticket_id for _, ticket_id in targets.values()]))
        .where(col(Ticket.status) == TicketStatus.OPEN.value)
        .values(updated_at=now, resolved_at=None, closed_at=None)
        .returning(col(Ticket.id))
    )
    open_ids = set(still_open.scalars())
    targets = {key: value for key, value in targets.items() if value[1] in open_ids}
    if not targets:
        return set()
    rows = [
        {
            "ticket_id": ticket_id,
            "direction": "in",
            "kind": "text",
            "text": incoming.text,
            "author_telegram_id": telegram_id,
            "customer_chat_id": incoming.chat_id,
            "customer_message_id": incoming.message_id,
            "business_connection_id": incoming.business_connection_id,
            "created_at": now,
        }
        for telegram_id, (_, ticket_id) in targets.items()
        for incoming in by_customer[telegram_id].texts
    ]
    messages = TicketMessage.__table__  # type: ignore[attr-defined]
    statement = insert_ignoring_duplicates(
        session, messages, ["customer_chat_id", "customer_message_id", "business_connection_id"]
    ).returning(messages.c.id, messages.c.customer_chat_id, messages.c.customer_message_id)
    stored = {
        (chat_id, number): message_id for message_id, chat_id, number in (await session.execute(statement, rows)).all()
    }
    copies = [
        (row["ticket_id"], stored[key], inboxes.get(row["ticket_id"]))
        for row in rows
        if (key := (row["customer_chat_id"], row["customer_message_id"])) in stored
    ]
    await staff_deliveries.enqueue_copies(session, copies=copies)
    return set(targets)
