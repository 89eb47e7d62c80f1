"""Dialog steps waiting for a user's next message, kept in the database so a restart loses none."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import PendingInput
from storage.types import utcnow


async def expect_input(session: AsyncSession, *, chat_id: int, user_id: int, kind: str, **data: Any) -> None:
    """The chat's next message from the user answers `kind`; one insert-or-replace, also when two transactions
    start the same dialog at the same moment."""
    table = PendingInput.__table__  # type: ignore[attr-defined]
    values = {"chat_id": chat_id, "user_id": user_id, "kind": kind, "data": json.dumps(data), "created_at": utcnow()}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["chat_id", "user_id"],
            set_={
                "kind": statement.excluded.kind,
                "data": statement.excluded.data,
                "created_at": statement.excluded.created_at,
            },
        )
    )


async def pending_input(session: AsyncSession, *, chat_id: int, user_id: int) -> tuple[str, dict[str, Any]] | None:
    row = await session.get(PendingInput, (chat_id, user_id))
    return None if row is None else (row.kind, json.loads(row.data))


async def clear_input(session: AsyncSession, *, chat_id: int, user_id: int) -> None:
    await session.execute(
        delete(PendingInput).where(col(PendingInput.chat_id) == chat_id, col(PendingInput.user_id) == user_id)
    )
