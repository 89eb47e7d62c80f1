"""Who is staff, with which role, and the audit trail of what staff did."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from storage.models import AuditEntry, Customer, Role, StaffMember, Ticket


def customers_only(admin_ids: Collection[int] = ()) -> ColumnElement[bool]:
    """A condition over `customers`: not a staff member (an admin of the settings, `admin_ids`, or anyone in
    `staff_members`) — unless they wrote to the bot as a customer (a message that became a ticket). Customer
    counts, segments, exports, broadcasts and care messages all go through it."""
    member = aliased(StaffMember)
    ticket = aliased(Ticket)
    staff: ColumnElement[bool] = (
        select(member.id).where(member.telegram_id == col(Customer.telegram_id)).correlate(Customer).exists()
    )
    if admin_ids:
        staff = or_(staff, col(Customer.telegram_id).in_(sorted(admin_ids)))
    wrote = select(ticket.id).where(ticket.customer_id == col(Customer.id)).correlate(Customer).exists()
    return or_(~staff, wrote)


async def role_of(session: AsyncSession, *, telegram_id: int, admin_ids: Collection[int]) -> Role | None:
    """Admins named in the settings are always admins; others have the role stored for them, if any."""
    if telegram_id in admin_ids:
        return Role.ADMIN
    result = await session.execute(select(StaffMember.role).where(col(StaffMember.telegram_id) == telegram_id))
    role = result.scalar_one_or_none()
    return Role(role) if role else None


async def roles_of(
    session: AsyncSession, *, telegram_ids: Collection[int], admin_ids: Collection[int]
) -> dict[int, Role]:
    """`role_of` for many people in one query: only those who are staff are in the answer."""
    if not telegram_ids:
        return {}
    result = await session.execute(
        select(StaffMember.telegram_id, StaffMember.role).where(col(StaffMember.telegram_id).in_(sorted(telegram_ids)))
    )
    roles = {telegram_id: Role(role) for telegram_id, role in result.all() if telegram_id is not None and role}
    roles.update({telegram_id: Role.ADMIN for telegram_id in telegram_ids if telegram_id in admin_ids})
    return roles


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


async def staff_member(
    session: AsyncSession, *, telegram_id: int | None = None, username: str | None = None
) -> StaffMember | None:
    """The stored staff member with this Telegram id, else the one with this @username (without the @)."""
    if telegram_id is not None:
        result = await session.execute(select(StaffMember).where(col(StaffMember.telegram_id) == telegram_id))
        found = result.scalar_one_or_none()
        if found is not None or username is None:
            return found
    if username is None:
        return None
    result = await session.execute(
        select(StaffMember).where(func.lower(col(StaffMember.username)) == username.lower()).limit(1)
    )
    return result.scalar_one_or_none()


async def bind_username(session: AsyncSession, *, telegram_id: int, username: str | None) -> Role | None:
    """A staff member added by @username becomes known by id the first time they write; returns their role."""
    if not username:
        return None
    result = await session.execute(
        select(StaffMember).where(
            col(StaffMember.telegram_id).is_(None), func.lower(col(StaffMember.username)) == username.lower()
        )
    )
    member = result.scalars().first()
    if member is None:
        return None
    member.telegram_id = telegram_id
    session.add(member)
    return Role(member.role)


async def add_staff(
    session: AsyncSession,
    *,
    telegram_id: int | None,
    username: str | None,
    name: str | None,
    role: Role,
    added_by: int,
) -> tuple[StaffMember, bool]:
    """Add a staff member or change their role; returns (member, created).

    Two admins adding the same person at the same moment: the second insert fails on the unique Telegram id in
    its savepoint, and the member the first one added gets the role."""
    member = await staff_member(session, telegram_id=telegram_id, username=username)
    created = member is None
    if member is None and telegram_id is not None:
        try:
            async with session.begin_nested():
                session.add(StaffMember(telegram_id=telegram_id, added_by=added_by, role=role.value))
                await session.flush()
        except IntegrityError:
            created = False
        member = await staff_member(session, telegram_id=telegram_id, username=None)
    if member is None:
        member = StaffMember(telegram_id=telegram_id, added_by=added_by)
    member.telegram_id = telegram_id if telegram_id is not None else member.telegram_id
    member.username = username or member.username
    member.name = name or member.name
    member.role = role.value
    session.add(member)
    await session.flush()
    return member, created


async def remove_staff(session: AsyncSession, *, member: StaffMember) -> None:
    await session.delete(member)
    await session.flush()


async def list_staff(session: AsyncSession) -> list[StaffMember]:
    result = await session.execute(select(StaffMember).order_by(col(StaffMember.role), col(StaffMember.id)))
    return list(result.scalars())
