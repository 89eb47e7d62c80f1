"""Who is staff, with which role, and the audit trail of what staff did."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import AuditEntry, Role, StaffMember


async def role_of(session: AsyncSession, *, telegram_id: int, admin_ids: Collection[int]) -> Role | None:
    """Admins named in the settings are always admins; others have the role stored for them, if any."""
    if telegram_id in admin_ids:
        return Role.ADMIN
    result = await session.execute(select(StaffMember.role).where(col(StaffMember.telegram_id) == telegram_id))
    role = result.scalar_one_or_none()
    return Role(role) if role else None


async def audit(
    session: AsyncSession,
    *,
    actor_telegram_id: int | None,
    action: str,
    customer_id: int | None = None,
    detail: str | None = None,
) -> None:
    session.add(AuditEntry(actor_telegram_id=actor_telegram_id, action=action, customer_id=customer_id, detail=detail))


async def audit_trail(
    session: AsyncSession, *, customer_id: int, limit: int, before_id: int | None = None
) -> list[tuple[AuditEntry, StaffMember | None]]:
    """The audit rows about one customer, newest first, with the staff member who acted (None: not staff or
    no longer staff). `before_id` continues a page: rows older than that one."""
    query = (
        select(AuditEntry, StaffMember)
        .outerjoin(StaffMember, col(StaffMember.telegram_id) == col(AuditEntry.actor_telegram_id))
        .where(col(AuditEntry.customer_id) == customer_id)
        .order_by(col(AuditEntry.id).desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    result = await session.execute(query)
    return [(entry, staff) for entry, staff in result.tuples()]
