"""The update inbox: updates are stored here before Telegram is told they arrived, and marked once handled.

Several replicas may share the inbox. The replica that stores an update claims it (`claimed_by`, `claimed_at`)
and renews its claims while it runs; an unhandled update whose claim went stale (its replica died) is claimed by
another replica with one `UPDATE … WHERE … RETURNING`. PostgreSQL re-checks the `WHERE` of a row another
transaction just changed, so two replicas racing for the same stale row never both get it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import InboxUpdate
from storage.outbox import insert_ignoring_duplicates
from storage.types import utcnow


@dataclass(frozen=True)
class IncomingUpdate:
    update_id: int
    chat_id: int | None
    payload: str


async def store_updates(
    session: AsyncSession, *, updates: Sequence[IncomingUpdate], claimed_by: str
) -> list[IncomingUpdate]:
    """Store the updates not seen before, claimed by `claimed_by`, and return them.

    A redelivered `update_id` is ignored, also when another replica stores the same update at the same moment
    (`INSERT … ON CONFLICT DO NOTHING`: exactly one of them gets it back).
    """
    unique: dict[int, IncomingUpdate] = {}
    for incoming in updates:
        unique.setdefault(incoming.update_id, incoming)
    if not unique:
        return []
    now = utcnow()
    table = InboxUpdate.__table__  # type: ignore[attr-defined]
    rows = [
        {
            "update_id": u.update_id,
            "chat_id": u.chat_id,
            "payload": u.payload,
            "received_at": now,
            "claimed_by": claimed_by,
            "claimed_at": now,
        }
        for u in unique.values()
    ]
    statement = insert_ignoring_duplicates(session, table, ["update_id"]).returning(table.c.update_id)
    stored = {update_id for (update_id,) in (await session.execute(statement, rows)).all()}
    return [u for u in unique.values() if u.update_id in stored]


async def mark_processed(session: AsyncSession, *, update_id: int) -> None:
    """Handled: the payload (which may hold personal data) is dropped, the id stays to refuse redeliveries."""
    await session.execute(
        update(InboxUpdate).where(col(InboxUpdate.update_id) == update_id).values(processed_at=utcnow(), payload="")
    )


async def mark_many_processed(session: AsyncSession, *, update_ids: Sequence[int]) -> None:
    await session.execute(
        update(InboxUpdate).where(col(InboxUpdate.update_id).in_(update_ids)).values(processed_at=utcnow(), payload="")
    )


async def claim_unprocessed(
    session: AsyncSession, *, claimed_by: str, stale_before: datetime | None
) -> list[IncomingUpdate]:
    """Claim the unhandled updates whose claim is older than `stale_before` (every one when None), oldest first.

    `stale_before=None` is for a process that knows it is alone (SQLite, long polling): it takes over whatever
    an earlier run left.
    """
    statement = update(InboxUpdate).where(col(InboxUpdate.processed_at).is_(None))
    if stale_before is not None:
        statement = statement.where(
            or_(col(InboxUpdate.claimed_at).is_(None), col(InboxUpdate.claimed_at) < stale_before)
        )
    statement = statement.values(claimed_by=claimed_by, claimed_at=utcnow()).returning(
        col(InboxUpdate.update_id), col(InboxUpdate.chat_id), col(InboxUpdate.payload)
    )
    rows = (await session.execute(statement)).all()
    return sorted((IncomingUpdate(row[0], row[1], row[2]) for row in rows), key=lambda u: u.update_id)


async def renew_claims(session: AsyncSession, *, claimed_by: str) -> int:
    """Keep this replica's unhandled updates its own; returns how many it holds."""
    result = await session.execute(
        update(InboxUpdate)
        .where(col(InboxUpdate.claimed_by) == claimed_by, col(InboxUpdate.processed_at).is_(None))
        .values(claimed_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def last_update_id(session: AsyncSession) -> int | None:
    return (await session.execute(select(func.max(col(InboxUpdate.update_id))))).scalar_one_or_none()


async def prune_handled(session: AsyncSession, *, handled_before: datetime, limit: int) -> int:
    """Delete up to `limit` updates handled before `handled_before`; returns how many.

    Unhandled updates stay, and so does the newest one whatever its age: `last_update_id` is where polling
    resumes after a restart.
    """
    newest = select(func.max(col(InboxUpdate.update_id))).correlate(None).scalar_subquery()
    handled = (
        select(col(InboxUpdate.update_id))
        .where(col(InboxUpdate.processed_at) < handled_before, col(InboxUpdate.update_id) < newest)
        .correlate(None)
        .limit(limit)
    )
    result = await session.execute(delete(InboxUpdate).where(col(InboxUpdate.update_id).in_(handled)))
    return int(result.rowcount)  # type: ignore[attr-defined]
