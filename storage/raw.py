"""The hot path's own connection: the few transactions every customer message goes through, in plain SQL on the
driver's own connection, apart from SQLAlchemy.

Through SQLAlchemy's ORM a short transaction costs about a millisecond of CPU (statements built and keyed, a
greenlet switch and, on SQLite, a hand-over to aiosqlite's thread for each step); the same transaction here costs
tens of microseconds. What goes through here: storing a batch of updates in the inbox, the fast lane's texts to
open tickets, the staff relay's marks and card places (BENCHMARKS.md §1).

- SQLite: a plain `sqlite3` connection used from the event loop's thread. A write transaction starts with
  `BEGIN IMMEDIATE` without waiting: while another connection writes, it yields to the loop and tries again, so the
  loop never blocks on a lock; once it has the lock, its few statements and the commit run without yielding, in
  microseconds (WAL with `synchronous=NORMAL`: a commit writes the log, no fsync).
- PostgreSQL: an asyncpg connection, whose statements are prepared once and cached.

Work is written once for both: `async def work(tx)` using `?` placeholders and `tx.at()` for timestamps. One
transaction runs at a time per engine (the hot path batches, so they are few and short).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import RAW_KEY, SQLITE_BUSY_TIMEOUT_MS, sqlite_pragmas
from storage.types import stored_utc

T = TypeVar("T")
Row = tuple[Any, ...]


class Tx(Protocol):
    """One transaction on the hot path's connection."""

    dialect: str

    async def rows(self, sql: str, *params: Any) -> list[Row]:
        """Run one statement; its rows (none for a statement without RETURNING)."""

    async def run(self, sql: str, *params: Any) -> int:
        """Run one statement; how many rows it changed."""

    async def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once for each row of parameters."""

    def at(self, moment: datetime) -> Any:
        """A UTC timestamp as the database's columns store it (naive UTC, like `storage.types.UTCDateTime`)."""

    def among(self, values: Sequence[Any], sql_type: str) -> tuple[str, list[Any]]:
        """A condition's right side for "one of `values`", and its parameters: `IN (?, ?, …)` on SQLite,
        `= ANY(?::type[])` on PostgreSQL (one statement for any number of values, prepared once)."""

    def table(self, rows: Sequence[Sequence[Any]], sql_types: Sequence[str]) -> tuple[str, list[Any]]:
        """Rows for an `INSERT INTO t (…) <table>`, and their parameters: `VALUES (?, …), (?, …)` on SQLite,
        `SELECT * FROM unnest(?::type[], …)` on PostgreSQL (prepared once, whatever the number of rows)."""


Work = Callable[[Tx], Awaitable[T]]


class RawDatabase(Protocol):
    async def open(self) -> None:
        """Connect now (at start-up), not on the first message."""

    async def run(self, work: Work[T], *, one_statement: bool = False) -> T:
        """`work` in one transaction. `one_statement`: it runs a single statement, atomic by itself (PostgreSQL
        then spares the round trips of BEGIN and COMMIT)."""

    async def close(self) -> None: ...


def raw_database(engine: AsyncEngine, lane: str = "inbound", *, flush_each_commit: bool = True) -> RawDatabase:
    """The hot path's connection for `engine`'s database, opened on first use, closed by `storage.db.dispose`.

    One connection per `lane`: the inbound path (the inbox, the fast lane) and the staff relay each have their own,
    so that the relay's mark after each call never waits behind a big batch of texts being stored.

    `flush_each_commit=False` (PostgreSQL's `synchronous_commit=off`): a commit returns before the server has
    flushed it to its disk. A crash of Carebot loses nothing (the server has it); a crash of the database server
    itself may lose its last fraction of a second of such commits. For bookkeeping whose loss means doing something
    again (the relay's marks: a message shown twice), never for what customers sent."""
    connections: dict[str, RawDatabase] = engine.sync_engine.__dict__.setdefault(RAW_KEY, {})
    found = connections.get(lane)
    if found is None:
        url = make_url(engine.url)
        if url.get_backend_name() == "sqlite":
            found = SqliteRaw(url.database or "")
        else:
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            found = PostgresRaw(dsn, flush_each_commit=flush_each_commit)
        connections[lane] = found
    return found


def placeholders(count: int) -> str:
    """`?, ?, …` for an `IN (…)` list of `count` values."""
    return ", ".join("?" * count)


class _SqliteTx:
    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def rows(self, sql: str, *params: Any) -> list[Row]:
        return self._connection.execute(sql, params).fetchall()

    async def run(self, sql: str, *params: Any) -> int:
        return self._connection.execute(sql, params).rowcount

    async def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection.executemany(sql, rows)

    def at(self, moment: datetime) -> str:
        # SQLAlchemy's SQLite DATETIME storage format, so that its reads and comparisons agree
        return stored_utc(moment).strftime("%Y-%m-%d %H:%M:%S.%f")

    def among(self, values: Sequence[Any], sql_type: str) -> tuple[str, list[Any]]:
        return f"IN ({placeholders(len(values))})", list(values)

    def table(self, rows: Sequence[Sequence[Any]], sql_types: Sequence[str]) -> tuple[str, list[Any]]:
        row = "(" + placeholders(len(sql_types)) + ")"
        return "VALUES " + ", ".join([row] * len(rows)), [value for values in rows for value in values]


class SqliteRaw:
    def __init__(self, path: str) -> None:
        if not path or path == ":memory:":
            raise ValueError("the hot path needs a database file (an in-memory SQLite is one per connection)")
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # Autocommit mode (transactions are begun here), never waiting on a lock inside sqlite3 (see `_begin`).
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0)
            sqlite_pragmas(connection, None)
            connection.execute("PRAGMA busy_timeout=0")
            self._connection = connection
        return self._connection

    async def _begin(self, connection: sqlite3.Connection) -> None:
        """Take the write lock without blocking the event loop: while another connection holds it, wait a little
        and try again, up to the busy timeout every other connection uses."""
        give_up = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        pause = 0.0005
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > give_up:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)

    async def open(self) -> None:
        self._connect()

    async def run(self, work: Work[T], *, one_statement: bool = False) -> T:
        async with self._lock:
            connection = self._connect()
            await self._begin(connection)
            try:
                result = await work(_SqliteTx(connection))
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1`, `$2`, … (the hot path's SQL has no `?` anywhere else)."""
    parts = sql.split("?")
    return "".join(part + (f"${index}" if index < len(parts) else "") for index, part in enumerate(parts, start=1))


class _PostgresTx:
    dialect = "postgresql"

    def __init__(self, connection: Any, statements: dict[str, str]) -> None:
        self._connection = connection
        self._statements = statements

    def _sql(self, sql: str) -> str:
        found = self._statements.get(sql)
        if found is None:
            found = self._statements[sql] = _numbered(sql)
        return found

    async def rows(self, sql: str, *params: Any) -> list[Row]:
        return [tuple(record) for record in await self._connection.fetch(self._sql(sql), *params)]

    async def run(self, sql: str, *params: Any) -> int:
        status: str = await self._connection.execute(self._sql(sql), *params)
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._connection.executemany(self._sql(sql), rows)

    def at(self, moment: datetime) -> datetime:
        return stored_utc(moment)

    def among(self, values: Sequence[Any], sql_type: str) -> tuple[str, list[Any]]:
        return f"= ANY(?::{sql_type}[])", [list(values)]

    def table(self, rows: Sequence[Sequence[Any]], sql_types: Sequence[str]) -> tuple[str, list[Any]]:
        arrays = ", ".join(f"?::{sql_type}[]" for sql_type in sql_types)
        return f"SELECT * FROM unnest({arrays})", [list(column) for column in zip(*rows, strict=True)]


class PostgresRaw:
    def __init__(self, dsn: str, *, flush_each_commit: bool = True) -> None:
        self.dsn = dsn
        self.flush_each_commit = flush_each_commit
        self._connection: Any = None
        self._statements: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        async with self._lock:
            await self._connect()

    async def _connect(self) -> Any:
        import asyncpg

        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(self.dsn)
            if not self.flush_each_commit:
                await self._connection.execute("SET synchronous_commit TO off")
        return self._connection

    async def run(self, work: Work[T], *, one_statement: bool = False) -> T:
        import asyncpg

        async with self._lock:
            connection = await self._connect()
            try:
                if one_statement:
                    return await work(_PostgresTx(connection, self._statements))
                async with connection.transaction():
                    return await work(_PostgresTx(connection, self._statements))
            except (OSError, asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError):
                await self._drop()  # the server went away: a new connection next time
                raise
            except asyncio.CancelledError:
                await self._drop()  # stopped half-way (a timeout): its state is unknown, a new connection next time
                raise

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await asyncio.wait_for(connection.close(), 5)
            except (OSError, TimeoutError):
                connection.terminate()
