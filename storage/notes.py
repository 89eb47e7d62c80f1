"""Internal notes staff keep on a customer."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import CustomerNote

MAX_NOTE_LENGTH = 2000


async def add_note(session: AsyncSession, *, customer_id: int, author_telegram_id: int, text: str) -> CustomerNote:
    note = CustomerNote(customer_id=customer_id, author_telegram_id=author_telegram_id, text=text[:MAX_NOTE_LENGTH])
    session.add(note)
    await session.flush()
    return note


async def list_notes(session: AsyncSession, *, customer_id: int, limit: int = 5) -> list[CustomerNote]:
    """The newest notes first."""
    result = await session.execute(
        select(CustomerNote)
        .where(col(CustomerNote.customer_id) == customer_id)
        .order_by(col(CustomerNote.created_at).desc(), col(CustomerNote.id).desc())
        .limit(limit)
    )
    return list(result.scalars())
