"""The migrations build exactly the schema the models describe, and running them again changes nothing."""

from __future__ import annotations

import asyncio

from alembic import command

from storage.db import alembic_config, upgrade_sync


async def test_models_and_migrations_agree(database_url: str) -> None:
    # `check` raises when autogenerate would produce a new migration.
    await asyncio.to_thread(command.check, alembic_config(database_url))


async def test_upgrade_is_idempotent(database_url: str) -> None:
    await asyncio.to_thread(upgrade_sync, database_url)
    await asyncio.to_thread(upgrade_sync, database_url)
