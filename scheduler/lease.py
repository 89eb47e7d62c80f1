"""The scheduler lease: among replicas on one database, exactly one runs the planner jobs at a time.

On PostgreSQL the lease is a session-level advisory lock (`pg_try_advisory_lock`) held on a connection of its
own. PostgreSQL releases it the moment that connection ends — the process exited or was killed — and, for a
machine that vanished without closing its sockets, once TCP keepalives (set short on this connection) give up.
Every replica polls every few seconds; the first to get the lock holds the lease. The holder pings its
connection on the same beat and treats a failed ping as a lost lease.

On SQLite only one process runs the bot (see `bot/runtime/instance_lock.py`), so the lease is always held.

    async with SchedulerLease(url, on_acquired=start_jobs, on_lost=stop_jobs) as lease:
        ...  # lease.held says whether this replica runs the jobs right now
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from storage.db import create_engine, is_sqlite

log = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[None]]

POLL_SECONDS = 5.0
PING_TIMEOUT_SECONDS = 5.0
# The advisory lock id: a fixed 32-bit number derived from the lease's name.
DEFAULT_NAME = "carebot:scheduler"
# How fast the database drops the connection of a holder that vanished: idle 5 s, then 3 probes 5 s apart.
_KEEPALIVE_SETTINGS = ("tcp_keepalives_idle = 5", "tcp_keepalives_interval = 5", "tcp_keepalives_count = 3")


def lock_id(name: str) -> int:
    return zlib.crc32(name.encode())


class SchedulerLease:
    """`async with` it for the life of the process; `held` tells whether this replica holds the lease now.

    `on_acquired` runs each time this replica becomes the holder, `on_lost` each time it stops being one
    (connection lost, or the block exits). A failing `on_acquired` gives the lease up so another replica can try.
    """

    def __init__(
        self,
        database_url: str,
        *,
        on_acquired: Callback | None = None,
        on_lost: Callback | None = None,
        poll_seconds: float = POLL_SECONDS,
        name: str = DEFAULT_NAME,
    ) -> None:
        self._url = database_url
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._poll_seconds = poll_seconds
        self._lock_id = lock_id(name)
        self._held = False
        self._engine: AsyncEngine | None = None
        self._connection: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        return self._held

    async def __aenter__(self) -> SchedulerLease:
        if is_sqlite(self._url):
            await self._become_holder()
            return self
        self._engine = create_engine(self._url, poolclass=NullPool)
        with contextlib.suppress(Exception):  # the database may be away: the loop keeps trying
            await self._attempt()
        self._task = asyncio.create_task(self._keep(), name="scheduler-lease")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._give_up(release=True)
        if self._engine is not None:
            await self._engine.dispose()

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                await self._attempt()
            except Exception as exc:
                log.warning("scheduler lease: database connection failed (%s)", type(exc).__name__)
                await self._give_up(release=False)

    async def _attempt(self) -> None:
        """Holder: check the lock's connection is alive. Others: try to take the lock."""
        connection = await self._connect()
        async with asyncio.timeout(PING_TIMEOUT_SECONDS):
            if self._held:
                await connection.execute(text("SELECT 1"))
                return
            got = (await connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": self._lock_id})).scalar()
        if got:
            await self._become_holder()

    async def _connect(self) -> AsyncConnection:
        if self._connection is None:
            assert self._engine is not None
            connection = await self._engine.connect()
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            for setting in (*_KEEPALIVE_SETTINGS, "application_name = 'carebot scheduler lease'"):
                await connection.execute(text(f"SET {setting}"))
            self._connection = connection
        return self._connection

    async def _become_holder(self) -> None:
        self._held = True
        log.info("scheduler lease acquired: this replica runs the scheduled jobs")
        if self._on_acquired is None:
            return
        try:
            await self._on_acquired()
        except Exception:
            log.exception("scheduler lease: starting the jobs failed; giving the lease up")
            await self._give_up(release=True)

    async def _give_up(self, *, release: bool) -> None:
        """Stop holding: tell `on_lost`, unlock if asked (and possible), close the lock's connection."""
        was_held, self._held = self._held, False
        if was_held:
            log.info("scheduler lease released: this replica no longer runs the scheduled jobs")
            if self._on_lost is not None:
                try:
                    await self._on_lost()
                except Exception:
                    log.exception("scheduler lease: stopping the jobs failed")
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                if release and was_held:
                    await connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": self._lock_id})
                await connection.close()
        if not connection.closed:
            with contextlib.suppress(Exception):
                await connection.invalidate()
