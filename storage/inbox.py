"""The update inbox: updates are stored here before Telegram is told they arrived, and marked once handled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import InboxUpdate
from storage.types import utcnow


@dataclass(frozen=True)
class IncomingUpdate:
    update_id: int
    chat_id: int | None
    payload: str


async def store_updates(session: AsyncSession, *, updates: Sequence[IncomingUpdate]) -> list[IncomingUpdate]:
    """Store the updates not seen before and return them; a redelivered `update_id` is ignored."""
    if not updates:
        return []
    ids = [u.update_id for u in updates]
    seen = set(
        (await session.execute(select(InboxUpdate.update_id).where(col(InboxUpdate.update_id).in_(ids)))).scalars()
    )
    fresh: dict[int, IncomingUpdate] = {}
    for incoming in updates:
        if incoming.update_id not in seen:
            fresh.setdefault(incoming.update_id, incoming)
    now = utcnow()
    session.add_all(
        InboxUpdate(update_id=u.update_id, chat_id=u.chat_id, payload=u.payload, received_at=now)
        for u in fresh.values()
    )
    await session.flush()
    return list(fresh.values())


async def mark_processed(session: AsyncSession, *, update_id: int) -> None:
    """Handled: the payload (which may hold personal data) is dropped, the id stays to refuse redeliveries."""
    await session.execute(
        update(InboxUpdate).where(col(InboxUpdate.update_id) == update_id).values(processed_at=utcnow(), payload="")
    )


async def unprocessed_updates(session: AsyncSession) -> list[IncomingUpdate]:
    result = await session.execute(
        select(InboxUpdate).where(col(InboxUpdate.processed_at).is_(None)).order_by(col(InboxUpdate.update_id))
    )
    return [IncomingUpdate(row.update_id, row.chat_id, row.payload) for row in result.scalars()]


async def last_update_id(session: AsyncSession) -> int | None:
    return (await session.execute(select(func.max(col(InboxUpdate.update_id))))).scalar_one_or_none()
