"""Alembic environment: runs migrations on the async engine (SQLite in batch mode, PostgreSQL as is)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table on the metadata)
from storage.db import create_engine, is_sqlite

target_metadata = SQLModel.metadata
# Replicas starting together all migrate: on PostgreSQL they take turns (the later ones then find nothing to do).
MIGRATION_LOCK_ID = 0x0CA4EB07
# The customer search index (migration 0013) is raw SQL the models do not describe: autogenerate leaves it alone.
SEARCH_INDEX_NAMES = ("customer_search", "ix_customers_search")


def _include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    return not (type_ in ("table", "index") and name is not None and name.startswith(SEARCH_INDEX_NAMES))


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(str(connection.engine.url)),
        compare_type=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:  # also when a migration fails: an open SQLite connection's thread would keep the process from exiting
        await engine.dispose()


url = context.config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url is not set"
if context.is_offline_mode():
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async(url))
