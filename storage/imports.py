"""CSV imports staff checked in the chat and have not committed yet (the file itself stays with Telegram)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import StaffImport
from storage.types import utcnow

KINDS = ("customers", "purchases")


async def stage_import(
    session: AsyncSession,
    *,
    kind: str,
    file_id: str,
    sha256: str,
    actor_telegram_id: int,
    chat_id: int,
    accepted: int,
    rejected: int,
) -> StaffImport:
    staged = StaffImport(
        kind=kind,
        file_id=file_id,
        sha256=sha256,
        actor_telegram_id=actor_telegram_id,
        chat_id=chat_id,
        accepted=accepted,
        rejected=rejected,
    )
    session.add(staged)
    await session.flush()
    return staged


async def claim_import(session: AsyncSession, *, import_id: int) -> StaffImport | None:
    """Mark the staged import committed and return it; None when it does not exist or was committed already."""
    result = await session.execute(
        update(StaffImport)
        .where(col(StaffImport.id) == import_id, col(StaffImport.committed_at).is_(None))
        .values(committed_at=utcnow())
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return await session.get(StaffImport, import_id)
