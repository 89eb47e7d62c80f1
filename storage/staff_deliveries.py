"""The durable queue of what the staff chat must be shown, drained in order by the staff-chat relay.

A handler stores the customer's message and its delivery row in one transaction; the relay sends later and marks
the row `sent` with the staff-chat message id. A crash between sending and marking re-sends only what was in flight.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import DeliveryStatus, StaffDelivery, TicketMessage
from storage.outbox import insert_ignoring_duplicates
from storage.types import utcnow

PENDING, SENT, FAILED = DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    ticket_id: int,
    kind: str,
    ticket_message_id: int | None = None,
    params: dict[str, Any] | None = None,
    not_before: datetime | None = None,
) -> None:
    """Queue once per `key`: planning the same delivery again inserts nothing."""
    now = utcnow()
    table = StaffDelivery.__table__  # type: ignore[attr-defined]
    row = {
        "key": key,
        "ticket_id": ticket_id,
        "ticket_message_id": ticket_message_id,
        "kind": kind,
        "params": json.dumps(params or {}, ensure_ascii=False),
        "status": PENDING,
        "not_before": not_before or now,
        "attempts": 0,
        "created_at": now,
    }
    await session.execute(insert_ignoring_duplicates(session, table, ["key"]), [row])


async def enqueue_copies(session: AsyncSession, *, copies: Sequence[tuple[int, int]]) -> None:
    """Queue customer messages to be copied to staff, `(ticket id, ticket message id)` in order, in one statement."""
    if not copies:
        return
    now = utcnow()
    rows = [
        {
            "key": f"copy:{message_id}",
            "ticket_id": ticket_id,
            "ticket_message_id": message_id,
            "kind": "copy",
            "params": "{}",
            "status": PENDING,
            "not_before": now,
            "attempts": 0,
            "created_at": now,
        }
        for ticket_id, message_id in copies
    ]
    table = StaffDelivery.__table__  # type: ignore[attr-defined]
    await session.execute(insert_ignoring_duplicates(session, table, ["key"]), rows)


async def pending(session: AsyncSession, *, limit: int = 500) -> list[StaffDelivery]:
    result = await session.execute(
        select(StaffDelivery).where(col(StaffDelivery.status) == PENDING).order_by(col(StaffDelivery.id)).limit(limit)
    )
    return list(result.scalars())


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


async def mark_sent(session: AsyncSession, *, shown: Sequence[Shown]) -> None:
    """Done, in two statements however many; a copied customer message remembers where it is in the staff chat
    (staff reply to it there)."""
    table = StaffDelivery.__table__  # type: ignore[attr-defined]
    rows = [
        {"row_id": row_id, "chat": one.staff_chat_id, "message": one.staff_message_id}
        for one in shown
        for row_id in one.ids
    ]
    if not rows:
        return
    await session.execute(
        table.update()
        .where(table.c.id == bindparam("row_id"))
        .values(
            status=SENT,
            sent_at=utcnow(),
            attempts=table.c.attempts + 1,
            staff_chat_id=bindparam("chat"),
            staff_message_id=bindparam("message"),
        ),
        rows,
    )
    copies = [
        {"message_id": message_id, "chat": one.staff_chat_id, "message": one.staff_message_id}
        for one in shown
        if one.staff_message_id is not None
        for message_id in one.copies
    ]
    if copies:
        messages = TicketMessage.__table__  # type: ignore[attr-defined]
        await session.execute(
            messages.update()
            .where(messages.c.id == bindparam("message_id"))
            .values(staff_chat_id=bindparam("chat"), staff_message_id=bindparam("message")),
            copies,
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
