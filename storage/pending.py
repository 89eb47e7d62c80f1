"""Dialog steps waiting for a user's next message, kept in the database so a restart loses none."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import PendingInput
from storage.types import utcnow


async def expect_input(session: AsyncSession, *, chat_id: int, user_id: int, kind: str, **data: Any) -> None:
    row = await session.get(PendingInput, (chat_id, user_id))
    if row is None:
        row = PendingInput(chat_id=chat_id, user_id=user_id, kind=kind)
    row.kind = kind
    row.data = json.dumps(data)
    row.created_at = utcnow()
    session.add(row)


async def pending_input(session: AsyncSession, *, chat_id: int, user_id: int) -> tuple[str, dict[str, Any]] | None:
    row = await session.get(PendingInput, (chat_id, user_id))
    return None if row is None else (row.kind, json.loads(row.data))


async def clear_input(session: AsyncSession, *, chat_id: int, user_id: int) -> None:
    await session.execute(
        delete(PendingInput).where(col(PendingInput.chat_id) == chat_id, col(PendingInput.user_id) == user_id)
    )
