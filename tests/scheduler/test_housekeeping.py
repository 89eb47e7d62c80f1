"""The daily housekeeping keeps the inbox small without ever handling an update twice or losing the polling offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs import housekeeping, run_job
from storage import inbox
from storage.db import SessionFactory
from storage.inbox import IncomingUpdate
from storage.models import InboxUpdate
from storage.raw import RawDatabase

NOW = datetime(2026, 6, 15, 20, 30, tzinfo=UTC)  # 04:30 in Shanghai, when the job runs
CONFIG = CareConfig(timezone="Asia/Shanghai")


def update(update_id: int) -> IncomingUpdate:
    return IncomingUpdate(update_id, 42, f'{{"update_id": {update_id}}}')


async def receive(raw: RawDatabase, *update_ids: int, handled: bool, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        await raw.run(lambda tx: inbox.store_updates(tx, updates=[update(n) for n in update_ids], claimed_by="bot"))
        if handled:
            await raw.run(lambda tx: inbox.mark_many_processed(tx, update_ids=update_ids))


async def stored_ids(sessions: SessionFactory) -> list[int]:
    async with sessions() as session:
        return list(await session.scalars(select(col(InboxUpdate.update_id)).order_by(col(InboxUpdate.update_id))))


async def redelivered(raw: RawDatabase, update_id: int) -> bool:
    """Whether the inbox takes `update_id` as new (it would be handled again)."""
    return bool(await raw.run(lambda tx: inbox.store_updates(tx, updates=[update(update_id)], claimed_by="bot")))


async def test_updates_handled_over_a_week_ago_are_deleted_and_unhandled_or_recent_ones_stay(
    sessions: SessionFactory, raw: RawDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(housekeeping, "BATCH", 2)  # several batches
    await receive(raw, 100, 101, 102, 103, 104, handled=True, at=NOW - timedelta(days=9))
    await receive(raw, 105, handled=False, at=NOW - timedelta(days=9))  # its handler never finished
    await receive(raw, 106, handled=True, at=NOW - timedelta(days=6, hours=23))
    await receive(raw, 107, handled=True, at=NOW - timedelta(hours=1))

    assert await run_job("housekeeping", sessions=sessions, config=CONFIG, now=NOW) == 5

    assert await stored_ids(sessions) == [105, 106, 107]
    assert not await redelivered(raw, 106)  # a redelivery within the week is still refused
    assert await run_job("housekeeping", sessions=sessions, config=CONFIG, now=NOW) == 0


async def test_after_a_quiet_week_the_newest_update_stays_so_polling_resumes_after_it(
    sessions: SessionFactory,
    raw: RawDatabase,
) -> None:
    await receive(raw, 200, 201, handled=True, at=NOW - timedelta(days=30))

    assert await run_job("housekeeping", sessions=sessions, config=CONFIG, now=NOW) == 1

    async with sessions() as session:
        assert await inbox.last_update_id(session) == 201  # getUpdates goes on from offset 202
    assert not await redelivered(raw, 201)
