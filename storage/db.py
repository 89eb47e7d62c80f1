"""Engine, sessions and migrations: the one place that knows how to reach the database."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_cursor
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
RAW_KEY = "carebot_raw"  # where an engine keeps the hot path's own connections (storage/raw.py)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite runs in WAL mode with a busy timeout so CLI commands work beside the bot, and
    with `secure_delete` so that deleted content does not stay readable in the file's free space.

    Statement parameters are left out of error messages: they hold phone numbers, emails and message texts,
    and errors end up in logs.
    """
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        if engine.dialect.driver == "aiosqlite":
            event.listen(engine.sync_engine, "do_execute", _execute_in_one_trip)
            event.listen(engine.sync_engine, "do_executemany", _executemany_in_one_trip)
    return engine


# aiosqlite runs each sqlite3 call in the connection's own thread, one hand-over (a queue, a future, a wake-up
# of the event loop) per call; SQLAlchemy's adapter makes four for a statement (open a cursor, execute, fetch,
# close). These do the four in one, in that thread, and leave the adapter's cursor as its own `execute` would.


def _execute_in_one_trip(cursor: Any, statement: str, parameters: Any, _context: Any) -> bool:
    return _in_one_trip(cursor, lambda raw: raw.execute(statement, parameters if parameters is not None else ()))


def _executemany_in_one_trip(cursor: Any, statement: str, parameters: Any, _context: Any) -> bool:
    return _in_one_trip(cursor, lambda raw: raw.executemany(statement, parameters))


def _in_one_trip(cursor: Any, call: Callable[[Any], object]) -> bool:
    """Run `call` on a fresh sqlite3 cursor in aiosqlite's thread, fetch and close there; False: not ours to run."""
    if not isinstance(cursor, AsyncAdapt_aiosqlite_cursor) or cursor.server_side:
        return False  # SQLAlchemy runs it as usual
    connection = cursor._connection

    def run() -> tuple[Any, list[Any], int, int | None]:
        raw = connection._conn.cursor()
        try:
            call(raw)
            if raw.description:
                return raw.description, raw.fetchall(), -1, -1
            return None, [], raw.rowcount, raw.lastrowid
        finally:
            raw.close()

    try:
        description, rows, rowcount, lastrowid = cursor.await_(connection._execute(run))
    except Exception as error:
        cursor._adapt_connection._handle_exception(error)
    cursor.description = description
    cursor._rows = deque(rows)
    cursor.rowcount = rowcount
    cursor.lastrowid = lastrowid
    return True


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted and overwritten content is zeroed on its page, not left in free space: erased means erased on disk.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


async def dispose(engine: AsyncEngine) -> None:
    """Close every connection of `engine`, the hot path's own (storage/raw.py) included."""
    for raw in engine.sync_engine.__dict__.pop(RAW_KEY, {}).values():
        await raw.close()
    await engine.dispose()


SessionFactory = async_sessionmaker[AsyncSession]


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session whose work commits when the block ends, or rolls back on an exception."""
    async with sessions() as session, session.begin():
        yield session


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; running it again changes nothing."""
    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade_sync, url, revision)
