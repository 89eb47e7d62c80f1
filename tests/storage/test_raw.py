"""The hot path's own connection (storage/raw.py): all or nothing, never blocking the event loop on a lock, and
storing what SQLAlchemy reads back as it would have stored it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from storage import inbox
from storage.db import SessionFactory, transaction
from storage.inbox import IncomingUpdate
from storage.models import InboxUpdate
from storage.raw import RawDatabase, Tx


def update(update_id: int) -> IncomingUpdate:
    return IncomingUpdate(update_id, 42, f'{{"update_id": {update_id}}}')


async def stored(sessions: SessionFactory) -> dict[int, InboxUpdate]:
    async with sessions() as session:
        rows = (await session.execute(select(InboxUpdate).order_by(col(InboxUpdate.update_id)))).scalars()
        return {row.update_id: row for row in rows}


async def test_a_transaction_that_fails_leaves_nothing_behind(raw: RawDatabase, sessions: SessionFactory) -> None:
    async def half_done(tx: Tx) -> None:
        await inbox.store_updates(tx, updates=[update(1)], claimed_by="r")
        raise RuntimeError("the rest went wrong")

    with pytest.raises(RuntimeError):
        await raw.run(half_done)
    assert await stored(sessions) == {}

    await raw.run(lambda tx: inbox.store_updates(tx, updates=[update(1)], claimed_by="r"))  # the connection goes on
    assert list(await stored(sessions)) == [1]


async def test_timestamps_read_back_through_sqlalchemy_as_written(raw: RawDatabase, sessions: SessionFactory) -> None:
    moment = datetime(2026, 12, 7, 15, 30, 0, tzinfo=UTC)  # no microseconds: stored with them all the same

    async def store(tx: Tx) -> None:
        await inbox.store_updates(tx, updates=[update(5)], claimed_by="r")
        await tx.run("UPDATE inbox SET processed_at = ? WHERE update_id = ?", tx.at(moment), 5)

    await raw.run(store)
    row = (await stored(sessions))[5]
    assert row.processed_at == moment
    async with sessions() as session:  # and SQL comparisons agree with SQLAlchemy's own parameters
        later = await session.execute(select(InboxUpdate).where(col(InboxUpdate.processed_at) < datetime.now(UTC)))
        assert [r.update_id for r in later.scalars()] == [5]


async def test_waiting_for_another_writer_never_blocks_the_event_loop(
    raw: RawDatabase, sessions: SessionFactory
) -> None:
    """While a SQLAlchemy transaction holds the write lock (SQLite) or the row (PostgreSQL), the hot path's write
    waits, the event loop goes on (the other transaction needs it to finish), and then the write goes through."""
    await raw.run(lambda tx: inbox.store_updates(tx, updates=[update(9)], claimed_by="r"))
    ticks = 0
    holding = asyncio.Event()
    release = asyncio.Event()

    async def other_writer() -> None:
        async with transaction(sessions) as session:
            await session.execute(text("UPDATE inbox SET claimed_by = 'other' WHERE update_id = 9"))
            holding.set()
            await release.wait()

    async def ticking() -> None:
        nonlocal ticks
        while not release.is_set():
            ticks += 1
            if ticks == 20:
                release.set()
            await asyncio.sleep(0.005)

    writer = asyncio.create_task(other_writer())
    await holding.wait()
    ticker = asyncio.create_task(ticking())
    await raw.run(lambda tx: tx.run("UPDATE inbox SET claimed_by = 'hot path' WHERE update_id = 9"))
    await asyncio.gather(writer, ticker)

    assert ticks >= 20  # the loop ran all along: the write waited for the other transaction's end
    assert (await stored(sessions))[9].claimed_by == "hot path"  # and came after it
