"""Several replicas on one inbox: a redelivery racing itself is stored once; a dead replica's updates move on."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import time_machine
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import inbox
from storage.db import SessionFactory, create_engine, dispose, transaction
from storage.inbox import IncomingUpdate
from storage.raw import RawDatabase, Tx, raw_database
from storage.types import utcnow


def update(update_id: int, chat_id: int = 42) -> IncomingUpdate:
    return IncomingUpdate(update_id, chat_id, f'{{"update_id": {update_id}}}')


async def test_the_same_update_stored_by_two_replicas_at_once_is_theirs_exactly_once(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(2)]

    async def store(engine: AsyncEngine, replica: str) -> list[int]:
        async def work(tx: Tx) -> list[int]:
            fresh = await inbox.store_updates(tx, updates=[update(7), update(8), update(7)], claimed_by=replica)
            await asyncio.sleep(0.05)  # keep the transaction open while the other replica inserts
            return [u.update_id for u in fresh]

        return await raw_database(engine).run(work)

    try:
        first, second = await asyncio.gather(store(engines[0], "a"), store(engines[1], "b"))
    finally:
        for engine in engines:
            await dispose(engine)
    assert sorted(first + second) == [7, 8]


async def test_a_live_replicas_updates_stay_its_own_and_a_silent_ones_are_taken_over(
    sessions: SessionFactory, raw: RawDatabase
) -> None:
    timeout = timedelta(seconds=30)
    await raw.run(lambda tx: inbox.store_updates(tx, updates=[update(1), update(2)], claimed_by="alive"))
    await raw.run(lambda tx: inbox.store_updates(tx, updates=[update(3)], claimed_by="silent"))
    async with transaction(sessions) as session:
        await inbox.mark_processed(session, update_id=2)
    async with transaction(sessions) as session:
        assert await inbox.claim_unprocessed(session, claimed_by="other", stale_before=utcnow() - timeout) == []

    with time_machine.travel(utcnow() + timeout + timedelta(seconds=1)):
        async with transaction(sessions) as session:  # "alive" renews its claims, "silent" does not
            assert await inbox.renew_claims(session, claimed_by="alive") == 1
        async with transaction(sessions) as session:
            taken = await inbox.claim_unprocessed(session, claimed_by="other", stale_before=utcnow() - timeout)
        assert [u.update_id for u in taken] == [3]
        async with transaction(sessions) as session:  # taken once: the next replica finds nothing stale
            assert await inbox.claim_unprocessed(session, claimed_by="third", stale_before=utcnow() - timeout) == []


async def test_a_process_alone_on_the_database_resumes_every_unhandled_update(
    sessions: SessionFactory, raw: RawDatabase
) -> None:
    await raw.run(lambda tx: inbox.store_updates(tx, updates=[update(5), update(4)], claimed_by="previous run"))
    async with transaction(sessions) as session:
        resumed = await inbox.claim_unprocessed(session, claimed_by="this run", stale_before=None)
    assert [u.update_id for u in resumed] == [4, 5]
