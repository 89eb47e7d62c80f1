"""The update inbox: updates are stored here before Telegram is told they arrived, and marked once handled.

Several replicas may share the inbox. The replica that stores an update claims it (`claimed_by`, `claimed_at`)
and renews its claims while it runs; an unhandled update whose claim went stale (its replica died) is claimed by
another replica with one `UPDATE … WHERE … RETURNING`. PostgreSQL re-checks the `WHERE` of a row another
transaction just changed, so two replicas racing for the same stale row never both get it.

An update whose handling failed stays unhandled with its number of `attempts`, the error's name and when it is
tried next (`retry_at`), so a restart keeps the schedule. After the last try it is parked: no replica claims it
until `return_parked` (`carebot inbox retry`) hands it back, unclaimed, to be picked up by a running bot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import InboxUpdate
from storage.raw import Tx
from storage.types import utcnow


@dataclass(frozen=True)
class IncomingUpdate:
    update_id: int
    chat_id: int | None
    payload: str
    attempts: int = 0
    retry_at: datetime | None = None


STORE_CHUNK = 500  # updates a statement (SQLite takes at most 32,766 parameters)


@dataclass(frozen=True)
class ParkedUpdate:
    update_id: int
    chat_id: int | None
    kind: str
    attempts: int
    error: str | None
    parked_at: datetime | None


def kind_of(payload: str) -> str:
    """What an update is (`message`, `callback_query`, …), read from its stored payload."""
    try:
        data = json.loads(payload) if payload else {}
    except ValueError:
        return "?"
    return next((key for key in data if key != "update_id"), "?") if isinstance(data, dict) else "?"


async def store_updates(tx: Tx, *, updates: Sequence[IncomingUpdate], claimed_by: str) -> list[IncomingUpdate]:
    """Store the updates not seen before, claimed by `claimed_by`, and return them (on the hot path's connection).

    A redelivered `update_id` is ignored, also when another replica stores the same update at the same moment
    (`INSERT … ON CONFLICT DO NOTHING`: exactly one of them gets it back).
    """
    unique: dict[int, IncomingUpdate] = {}
    for incoming in updates:
        unique.setdefault(incoming.update_id, incoming)
    if not unique:
        return []
    now = tx.at(utcnow())
    stored: set[int] = set()
    items = list(unique.values())
    for start in range(0, len(items), STORE_CHUNK):
        rows, params = tx.table(
            [(u.update_id, u.payload, u.chat_id, now, claimed_by, now, 0) for u in items[start : start + STORE_CHUNK]],
            ("bigint", "text", "bigint", "timestamp", "varchar", "timestamp", "integer"),
        )
        inserted = await tx.rows(
            "INSERT INTO inbox (update_id, payload, chat_id, received_at, claimed_by, claimed_at, attempts)"
            f" {rows} ON CONFLICT (update_id) DO NOTHING RETURNING update_id",
            *params,
        )
        stored.update(update_id for (update_id,) in inserted)
    return [u for u in items if u.update_id in stored]


async def mark_processed(session: AsyncSession, *, update_id: int) -> None:
    """Handled: the payload (which may hold personal data) is dropped, the id stays to refuse redeliveries."""
    await session.execute(
        update(InboxUpdate).where(col(InboxUpdate.update_id) == update_id).values(processed_at=utcnow(), payload="")
    )


async def mark_many_processed(tx: Tx, *, update_ids: Sequence[int]) -> None:
    """`mark_processed` for many, on the hot path's connection."""
    if update_ids:
        among, params = tx.among(update_ids, "bigint")
        await tx.run(
            f"UPDATE inbox SET processed_at = ?, payload = '' WHERE update_id {among}", tx.at(utcnow()), *params
        )


async def claim_unprocessed(
    session: AsyncSession, *, claimed_by: str, stale_before: datetime | None
) -> list[IncomingUpdate]:
    """Claim the unhandled updates whose claim is older than `stale_before` (every one when None), oldest first.

    `stale_before=None` is for a process that knows it is alone (SQLite, long polling): it takes over whatever
    an earlier run left.
    """
    statement = update(InboxUpdate).where(col(InboxUpdate.processed_at).is_(None), col(InboxUpdate.parked_at).is_(None))
    if stale_before is not None:
        statement = statement.where(
            or_(col(InboxUpdate.claimed_at).is_(None), col(InboxUpdate.claimed_at) < stale_before)
        )
    return await _claim(session, statement, claimed_by=claimed_by)


async def claim_returned(session: AsyncSession, *, claimed_by: str) -> list[IncomingUpdate]:
    """Claim the unhandled updates nobody holds: those `return_parked` handed back; oldest first. Looked for with
    a read first: this runs every few seconds, and on SQLite a write would take the database's write lock."""
    returned = (
        col(InboxUpdate.processed_at).is_(None),
        col(InboxUpdate.parked_at).is_(None),
        col(InboxUpdate.claimed_by).is_(None),
    )
    if (await session.execute(select(col(InboxUpdate.update_id)).where(*returned).limit(1))).first() is None:
        return []
    return await _claim(session, update(InboxUpdate).where(*returned), claimed_by=claimed_by)


async def _claim(session: AsyncSession, statement: Any, *, claimed_by: str) -> list[IncomingUpdate]:
    statement = statement.values(claimed_by=claimed_by, claimed_at=utcnow()).returning(
        col(InboxUpdate.update_id),
        col(InboxUpdate.chat_id),
        col(InboxUpdate.payload),
        col(InboxUpdate.attempts),
        col(InboxUpdate.retry_at),
    )
    rows = (await session.execute(statement)).all()
    return sorted((IncomingUpdate(*row) for row in rows), key=lambda u: u.update_id)


async def note_failure(
    session: AsyncSession, *, update_id: int, attempts: int, error: str, retry_at: datetime | None
) -> None:
    """Handling failed for the `attempts`-th time: tried again at `retry_at`, or parked when that is None (the
    replica lets go of it, and no replica claims it again by itself)."""
    now = utcnow()
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:128], "retry_at": retry_at}
    if retry_at is None:
        values.update(parked_at=now, claimed_by=None, claimed_at=None)
    await session.execute(update(InboxUpdate).where(col(InboxUpdate.update_id) == update_id).values(**values))


async def parked_updates(session: AsyncSession) -> list[ParkedUpdate]:
    result = await session.execute(
        sa_select(
            col(InboxUpdate.update_id),
            col(InboxUpdate.chat_id),
            col(InboxUpdate.payload),
            col(InboxUpdate.attempts),
            col(InboxUpdate.last_error),
            col(InboxUpdate.parked_at),
        )
        .where(col(InboxUpdate.parked_at).is_not(None), col(InboxUpdate.processed_at).is_(None))
        .order_by(col(InboxUpdate.update_id))
    )
    return [
        ParkedUpdate(update_id, chat_id, kind_of(payload), attempts, error, parked_at)
        for update_id, chat_id, payload, attempts, error, parked_at in result.all()
    ]


async def count_parked(session: AsyncSession) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(InboxUpdate)
        .where(col(InboxUpdate.parked_at).is_not(None), col(InboxUpdate.processed_at).is_(None))
    )
    return int(result.scalar_one())


async def return_parked(session: AsyncSession, *, update_ids: Sequence[int] | None) -> list[int]:
    """Hand parked updates (the given ones, or every one when None) back to be handled, with a fresh schedule;
    returns their ids. A running bot claims them within seconds and handles them in order."""
    statement = update(InboxUpdate).where(
        col(InboxUpdate.parked_at).is_not(None), col(InboxUpdate.processed_at).is_(None)
    )
    if update_ids is not None:
        statement = statement.where(col(InboxUpdate.update_id).in_(list(update_ids)))
    result = await session.execute(
        statement.values(parked_at=None, attempts=0, retry_at=None, claimed_by=None, claimed_at=None).returning(
            col(InboxUpdate.update_id)
        )
    )
    return sorted(result.scalars())


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
