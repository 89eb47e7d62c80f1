"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL when configured) and settings."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from bot.context import Services
from bot.settings import Settings
from storage.db import SessionFactory, create_engine, dispose, session_factory, upgrade_sync
from storage.raw import RawDatabase, raw_database
from tests.botapi import FakeChat, FakeTelegram, FakeUser
from tests.harness import BotHarness, running_bot
from tests.ids import ADMIN_ID, STAFF_CHAT_ID

PG_URL = os.environ.get("CAREBOT_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's `.env` or `CAREBOT_*` variables."""
    for name in list(os.environ):
        if name.startswith("CAREBOT_") and name != "CAREBOT_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once per test session; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("template") / "carebot.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


def _worker_database_url(worker: str) -> str:
    """One database per checkout and test worker, so parallel runs never share (or drop) each other's."""
    url = make_url(PG_URL)
    checkout = hashlib.sha1(str(Path(__file__).resolve()).encode()).hexdigest()[:8]
    return url.set(database=f"{url.database}_carebot_{checkout}_{worker}").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    """A database of this test worker's own, migrated once; tests empty it with TRUNCATE."""
    import asyncpg  # type: ignore[import-untyped]

    url = _worker_database_url(worker_id)
    name = make_url(url).database
    plain = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)

    async def recreate() -> None:
        connection = await asyncpg.connect(plain)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    def prepare() -> None:
        asyncio.run(recreate())
        upgrade_sync(url)

    # In a thread of its own: this may be first requested while a test's event loop is running.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(prepare).result()
    yield url


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database: a fresh SQLite file, or this worker's PostgreSQL database emptied."""
    if request.param == "sqlite":
        path = tmp_path / "carebot.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url = str(request.getfixturevalue("postgres_url"))
    await empty_database(url)
    return url


async def empty_database(url: str) -> None:
    """Every table emptied and every id sequence restarted (tests in one worker share its PostgreSQL database)."""
    engine = create_engine(url)
    try:
        tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await dispose(engine)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await dispose(engine)


@pytest.fixture
def raw(engine: AsyncEngine) -> RawDatabase:
    """The hot path's own connection to the test database (storage/raw.py)."""
    return raw_database(engine)


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return session_factory(engine)


@pytest.fixture
def services(settings: Settings, engine: AsyncEngine, sessions: SessionFactory) -> Services:
    return Services(settings=settings, engine=engine, sessions=sessions)


@pytest.fixture
def tg() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
def admin(tg: FakeTelegram) -> FakeUser:
    """The first admin (CAREBOT_ADMIN_IDS), a member of the staff group."""
    return tg.user(ADMIN_ID, "Alice", last_name="Admin")


@pytest.fixture
def staff(tg: FakeTelegram, admin: FakeUser) -> FakeChat:
    """The staff group (CAREBOT_STAFF_CHAT_ID), a plain group."""
    return tg.group(STAFF_CHAT_ID, "Care team", members=[admin])


@pytest.fixture
async def bot(tg: FakeTelegram, services: Services) -> AsyncIterator[BotHarness]:
    """Carebot in-process against the fake Bot API; `await bot.deliver()` runs what users sent."""
    async with running_bot(tg, services) as harness:
        yield harness


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        bot_token="123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz",
        bot_api_url="http://127.0.0.1:9/bot",
        database_url=database_url,
        staff_chat_id=STAFF_CHAT_ID,
        admin_ids=frozenset({ADMIN_ID}),
        timezone="Asia/Shanghai",
        default_language="zh_CN",
        staff_language="en",  # customers default to Chinese; the staff group of the tests reads English
        rate_limits="off",
    )


@pytest.fixture
def no_handler_errors() -> Iterator[list[logging.LogRecord]]:
    """Fail the test if any update reached `bot.app.on_error` (an unhandled exception in a handler)."""
    caught: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                caught.append(record)

    catcher = Catch()
    logger = logging.getLogger("bot.app")
    logger.addHandler(catcher)
    try:
        yield caught
    finally:
        logger.removeHandler(catcher)
    assert not caught, "unhandled exceptions reached the error handler:\n" + "\n".join(
        f"{record.getMessage()}: {record.exc_info[1]!r}" if record.exc_info else record.getMessage()
        for record in caught
    )


@pytest.fixture(params=BACKENDS)
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database to copy into: a new SQLite file, or the test worker's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
    url = str(request.getfixturevalue("postgres_url"))
    asyncio.run(empty_database(url))
    return url
