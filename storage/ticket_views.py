"""A ticket's history for staff, and assigning a ticket to a staff member."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Customer, Ticket, TicketMessage
from storage.types import utcnow


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


async def assign_ticket(session: AsyncSession, *, ticket_id: int, assignee_telegram_id: int) -> Ticket | None:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    ticket.assignee_telegram_id = assignee_telegram_id
    ticket.updated_at = utcnow()
    session.add(ticket)
    await session.flush()
    return ticket
