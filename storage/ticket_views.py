"""A ticket's history for staff, and what the staff relay reads per pass."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from storage.models import Customer, Ticket, TicketMessage


async def ticket_with_history(
    session: AsyncSession, *, ticket_id: int, limit: int = 30
) -> tuple[Ticket, Customer | None, list[TicketMessage]] | None:
    """The ticket, its customer and its last `limit` messages in order; None when there is no such ticket."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    customer = await session.get(Customer, ticket.customer_id)
    result = await session.execute(
        select(TicketMessage)
        .where(col(TicketMessage.ticket_id) == ticket_id)
        .order_by(col(TicketMessage.created_at).desc(), col(TicketMessage.id).desc())
        .limit(limit)
    )
    return ticket, customer, list(reversed(list(result.scalars())))


async def tickets_with_customers(
    session: AsyncSession, *, ticket_ids: Sequence[int]
) -> dict[int, tuple[Ticket, Customer]]:
    """Tickets by id with their customers, in one query (a ticket that is gone is left out)."""
    if not ticket_ids:
        return {}
    result = await session.execute(
        select(Ticket, Customer)
        .join(Customer, col(Customer.id) == col(Ticket.customer_id))
        .where(col(Ticket.id).in_(ticket_ids))
    )
    return {ticket.id: (ticket, customer) for ticket, customer in result.tuples() if ticket.id is not None}


async def earlier_ticket_counts(session: AsyncSession, *, ticket_ids: Sequence[int]) -> dict[int, int]:
    """For each ticket, how many tickets its customer had before it (for its card), in one query."""
    if not ticket_ids:
        return {}
    earlier = aliased(Ticket)
    result = await session.execute(
        select(col(Ticket.id), func.count(col(earlier.id)))
        .join(earlier, and_(col(earlier.customer_id) == col(Ticket.customer_id), col(earlier.id) < col(Ticket.id)))
        .where(col(Ticket.id).in_(ticket_ids))
        .group_by(col(Ticket.id))
    )
    found = {ticket_id: int(count) for ticket_id, count in result.tuples() if ticket_id is not None}
    return {ticket_id: found.get(ticket_id, 0) for ticket_id in ticket_ids}
