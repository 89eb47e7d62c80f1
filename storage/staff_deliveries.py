"""The durable queue of what staff must be shown, drained in order by the staff relay.

Each row has a destination: the staff group (`chat_id` None) or an agent's private chat with the bot (their
inbox). A handler stores the customer's message and its delivery rows in one transaction; the relay sends later
and marks each row `sent` with the message it became. A crash between sending and marking re-sends only what was
in flight.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import DeliveryStatus, StaffDelivery, Ticket
from storage.outbox import insert_ignoring_duplicates
from storage.raw import Tx
from storage.types import utcnow

PENDING, SENT, FAILED = DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED
COPIES_CHUNK = 500  # rows a statement (SQLite takes at most 32,766 parameters)


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    ticket_id: int,
    kind: str,
    ticket_message_id: int | None = None,
    params: dict[str, Any] | None = None,
    not_before: datetime | None = None,
    chat_id: int | None = None,
) -> None:
    """Queue once per `key`: planning the same delivery again inserts nothing. `chat_id` None: the group."""
    now = utcnow()
    table = StaffDelivery.__table__  # type: ignore[attr-defined]
    row = {
        "key": key,
        "ticket_id": ticket_id,
        "ticket_message_id": ticket_message_id,
        "kind": kind,
        "chat_id": chat_id,
        "params": json.dumps(params or {}, ensure_ascii=False),
        "status": PENDING,
        "not_before": not_before or now,
        "attempts": 0,
        "created_at": now,
    }
    await session.execute(insert_ignoring_duplicates(session, table, ["key"]), [row])


async def enqueue_for_ticket(
    session: AsyncSession,
    *,
    ticket: Ticket,
    key: str,
    kind: str,
    ticket_message_id: int | None = None,
    params: dict[str, Any] | None = None,
    not_before: datetime | None = None,
) -> None:
    """Queue for the group and, while the ticket is delivered to its assignee's inbox, for that inbox too (the
    relay decides what the group shows of an assigned ticket)."""
    assert ticket.id is not None
    for chat_id in destinations(ticket):
        await enqueue(
            session,
            key=key if chat_id is None else f"{key}:i{chat_id}",
            ticket_id=ticket.id,
            kind=kind,
            ticket_message_id=ticket_message_id,
            params=params,
            not_before=not_before,
            chat_id=chat_id,
        )


def destinations(ticket: Ticket) -> list[int | None]:
    return [None] if ticket.inbox_chat_id is None else [None, ticket.inbox_chat_id]


async def enqueue_copies(tx: Tx, *, copies: Sequence[tuple[int, int, int | None]]) -> None:
    """Queue customer messages to be copied to staff, `(ticket id, ticket message id, inbox or None)` in order, in
    one statement on the hot path's connection: each goes to the group and, when the ticket has one, to its
    assignee's inbox."""
    if not copies:
        return
    now = tx.at(utcnow())
    rows = [
        (f"copy:{message_id}" if chat_id is None else f"copy:{message_id}:i{chat_id}", ticket_id, message_id, chat_id)
        for ticket_id, message_id, inbox in copies
        for chat_id in ([None] if inbox is None else [None, inbox])
    ]
    for start in range(0, len(rows), COPIES_CHUNK):
        table, params = tx.table(
            [(*row, "copy", "{}", PENDING.value, now, 0, now) for row in rows[start : start + COPIES_CHUNK]],
            (
                "varchar",
                "integer",
                "integer",
                "bigint",
                "varchar",
                "text",
                "varchar",
                "timestamp",
                "integer",
                "timestamp",
            ),
        )
        await tx.run(
            'INSERT INTO staff_deliveries ("key", ticket_id, ticket_message_id, chat_id, kind, params, status,'
            f' not_before, attempts, created_at) {table} ON CONFLICT ("key") DO NOTHING',
            *params,
        )


async def pending(session: AsyncSession, *, limit: int = 500, busy: Sequence[int | None] = ()) -> list[StaffDelivery]:
    """The oldest pending rows, leaving out the destinations in `busy` (None: the group) whose rows are being sent."""
    query = select(StaffDelivery).where(col(StaffDelivery.status) == PENDING)
    chats = [chat for chat in busy if chat is not None]
    if chats:
        query = query.where(or_(col(StaffDelivery.chat_id).is_(None), col(StaffDelivery.chat_id).not_in(chats)))
    if None in busy:
        query = query.where(col(StaffDelivery.chat_id).isnot(None))
    result = await session.execute(query.order_by(col(StaffDelivery.id)).limit(limit))
    return list(result.scalars())


async def record_shown(session: AsyncSession, *, key: str, ticket_id: int, chat_id: int, message_id: int) -> None:
    """A message the relay showed outside the queue (an inbox card): staff replying to it reach the ticket."""
    now = utcnow()
    table = StaffDelivery.__table__  # type: ignore[attr-defined]
    row = {
        "key": key,
        "ticket_id": ticket_id,
        "kind": "card",
        "chat_id": chat_id,
        "params": "{}",
        "status": SENT,
        "not_before": now,
        "attempts": 1,
        "created_at": now,
        "sent_at": now,
        "staff_chat_id": chat_id,
        "staff_message_id": message_id,
    }
    await session.execute(insert_ignoring_duplicates(session, table, ["key"]), [row])


async def fail_chat(session: AsyncSession, *, chat_id: int, error: str) -> None:
    """Nothing more can go to this inbox: its pending rows end failed."""
    await session.execute(
        update(StaffDelivery)
        .where(col(StaffDelivery.status) == PENDING, col(StaffDelivery.chat_id) == chat_id)
        .values(status=FAILED, last_error=error[:512])
    )


async def count_pending(session: AsyncSession) -> int:
    result = await session.execute(
        select(func.count()).select_from(StaffDelivery).where(col(StaffDelivery.status) == PENDING)
    )
    return int(result.scalar_one())


@dataclass(frozen=True)
class Shown:
    """Queue rows that became one staff-chat message (`staff_message_id`), or none (None)."""

    ids: Sequence[int]
    staff_chat_id: int | None
    staff_message_id: int | None
    copies: Sequence[int] = ()  # the ticket messages among them that were copied


async def mark_sent(tx: Tx, *, shown: Sequence[Shown]) -> None:
    """Done, on the hot path's connection, in one statement on PostgreSQL (run it with `one_statement`) and two on
    SQLite, however many rows; a copied customer message remembers where it is in the staff chat (staff reply to it
    there)."""
    now = tx.at(utcnow())
    rows = [(row_id, one.staff_chat_id, one.staff_message_id) for one in shown for row_id in one.ids]
    if not rows:
        return
    copies = [
        (message_id, one.staff_chat_id, one.staff_message_id)
        for one in shown
        if one.staff_message_id is not None
        for message_id in one.copies
    ]
    if tx.dialect == "postgresql":
        await tx.run(
            "WITH sent AS (UPDATE staff_deliveries d SET status = ?, sent_at = ?, attempts = d.attempts + 1,"
            " staff_chat_id = v.chat, staff_message_id = v.message"
            " FROM unnest(?::int[], ?::bigint[], ?::bigint[]) AS v(id, chat, message) WHERE d.id = v.id)"
            " UPDATE ticket_messages m SET staff_chat_id = c.chat, staff_message_id = c.message"
            " FROM unnest(?::int[], ?::bigint[], ?::bigint[]) AS c(id, chat, message) WHERE m.id = c.id",
            SENT.value,
            now,
            *map(list, zip(*rows, strict=True)),
            *(map(list, zip(*copies, strict=True)) if copies else ([], [], [])),
        )
        return
    await tx.many(
        "UPDATE staff_deliveries SET status = ?, sent_at = ?, attempts = attempts + 1, staff_chat_id = ?,"
        " staff_message_id = ? WHERE id = ?",
        [(SENT.value, now, chat, message, row_id) for row_id, chat, message in rows],
    )
    if copies:
        await tx.many(
            "UPDATE ticket_messages SET staff_chat_id = ?, staff_message_id = ? WHERE id = ?",
            [(chat, message, message_id) for message_id, chat, message in copies],
        )


async def mark_failed(session: AsyncSession, *, ids: Sequence[int], error: str) -> None:
    await session.execute(
        update(StaffDelivery)
        .where(col(StaffDelivery.id).in_(ids))
        .values(status=FAILED, last_error=error[:512], attempts=StaffDelivery.attempts + 1)
    )


async def note_attempt(session: AsyncSession, *, ids: Sequence[int], error: str) -> None:
    await session.execute(
        update(StaffDelivery)
        .where(col(StaffDelivery.id).in_(ids))
        .values(last_error=error[:512], attempts=StaffDelivery.attempts + 1)
    )
