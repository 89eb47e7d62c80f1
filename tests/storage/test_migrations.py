"""The migrations build exactly the schema the models describe, and running them again changes nothing."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from storage.db import alembic_config, upgrade_sync


async def test_models_and_migrations_agree(database_url: str) -> None:
    # `check` raises when autogenerate would produce a new migration.
    await asyncio.to_thread(command.check, alembic_config(database_url))


async def test_upgrade_is_idempotent(database_url: str) -> None:
    await asyncio.to_thread(upgrade_sync, database_url)
    await asyncio.to_thread(upgrade_sync, database_url)


# What the rest of Carebot relies on the database to enforce (primary key or unique): one row per key, whatever races.
UNIQUE_KEYS = {
    ("customers", ("telegram_id",)),
    ("staff_members", ("telegram_id",)),
    ("inbox", ("update_id",)),
    ("outbox", ("key",)),
    ("outbox_passes", ("key",)),
    ("coupons", ("code",)),
    ("staff_deliveries", ("key",)),
    ("survey_responses", ("ticket_id",)),
    ("ticket_messages", ("customer_chat_id", "customer_message_id", "business_connection_id")),
}


def _schema(connection: Connection) -> tuple[dict[str, set[str]], set[tuple[str, tuple[str, ...]]]]:
    inspector = inspect(connection)
    columns: dict[str, set[str]] = {}
    unique: set[tuple[str, tuple[str, ...]]] = set()
    for table in inspector.get_table_names():
        columns[table] = {column["name"] for column in inspector.get_columns(table)}
        unique.add((table, tuple(inspector.get_pk_constraint(table)["constrained_columns"])))
        for constraint in inspector.get_unique_constraints(table):
            unique.add((table, tuple(constraint["column_names"])))
        for index in inspector.get_indexes(table):
            if index.get("unique"):
                unique.add((table, tuple(str(name) for name in index["column_names"])))
    return columns, unique


async def test_the_migrated_schema_has_every_table_and_column_of_the_models_and_their_unique_keys(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        columns, unique = await connection.run_sync(_schema)
    for table in SQLModel.metadata.sorted_tables:
        assert columns.get(table.name) == {column.name for column in table.columns}, table.name
    assert "alembic_version" in columns
    assert unique >= UNIQUE_KEYS
