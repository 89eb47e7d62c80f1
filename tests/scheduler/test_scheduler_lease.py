"""The scheduler lease: one holder among replicas; when the holder goes, another takes over."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.lease import SchedulerLease

FAST = 0.1


class Holder:
    """A replica's view of the lease, through its callbacks."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.changed = asyncio.Event()

    async def acquired(self) -> None:
        self.events.append("acquired")
        self.changed.set()

    async def lost(self) -> None:
        self.events.append("lost")
        self.changed.set()

    def lease(self, url: str) -> SchedulerLease:
        return SchedulerLease(url, on_acquired=self.acquired, on_lost=self.lost, poll_seconds=FAST, name="test")

    async def wait_for(self, event: str) -> None:
        async with asyncio.timeout(10):
            while event not in self.events:
                self.changed.clear()
                await self.changed.wait()


def postgres_only(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite runs one bot process: its lease is always held")


async def test_on_sqlite_the_single_process_always_holds_the_lease(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite behaviour")
    replica = Holder()
    async with replica.lease(database_url) as lease:
        assert lease.held and replica.events == ["acquired"]
    assert not lease.held and replica.events == ["acquired", "lost"]


async def test_one_replica_holds_the_lease_and_another_takes_over_when_it_stops(database_url: str) -> None:
    postgres_only(database_url)
    first, second = Holder(), Holder()
    first_replica = contextlib.AsyncExitStack()
    first_lease = await first_replica.enter_async_context(first.lease(database_url))
    async with second.lease(database_url) as second_lease:
        assert first_lease.held and not second_lease.held
        await asyncio.sleep(FAST * 5)  # several polls: the lease stays where it is
        assert second.events == []
        await first_replica.aclose()  # the first replica shuts down
        assert first.events == ["acquired", "lost"]
        await second.wait_for("acquired")
        assert second_lease.held


async def test_a_holder_whose_database_connection_dies_loses_the_lease_to_another(
    database_url: str, engine: AsyncEngine
) -> None:
    postgres_only(database_url)
    first, second = Holder(), Holder()
    async with first.lease(database_url) as first_lease, second.lease(database_url) as second_lease:
        async with engine.connect() as connection:
            killed = await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
            assert killed.scalars().all() == [True]
        await first.wait_for("lost")
        await second.wait_for("acquired")
        assert second_lease.held and not first_lease.held
