"""The one way a `carebot` command opens the database: a fresh engine, migrated when asked, disposed afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.context import Services
from bot.settings import Settings
from storage.db import create_engine, dispose, session_factory, upgrade


@asynccontextmanager
async def opened(settings: Settings, *, migrate: bool = False) -> AsyncIterator[Services]:
    if migrate:
        await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        yield Services(settings=settings, engine=engine, sessions=session_factory(engine))
    finally:
        await dispose(engine)
