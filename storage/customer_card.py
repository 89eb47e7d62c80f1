"""Everything a customer card shows (in chat and, with its histories, on the desk), gathered in a few queries."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Customer, CustomerNote, Purchase, SegmentChange, SurveyResponse, Ticket, TicketStatus
from storage.notes import list_notes

OPEN_STATUSES = (TicketStatus.OPEN.value, TicketStatus.PENDING.value)


@dataclass(frozen=True)
class CustomerCard:
    customer: Customer
    last_purchase: Purchase | None
    open_tickets: list[Ticket]
    recent_tickets: list[Ticket]  # resolved or closed, newest first
    last_satisfaction: SurveyResponse | None
    notes: list[CustomerNote]


async def customer_card(session: AsyncSession, *, customer: Customer, recent: int = 3) -> CustomerCard:
    assert customer.id is not None
    last_purchase = (
        await session.execute(
            select(Purchase)
            .where(col(Purchase.customer_id) == customer.id, col(Purchase.refunded_at).is_(None))
            .order_by(col(Purchase.occurred_at).desc(), col(Purchase.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    open_tickets = list(
        (
            await session.execute(
                select(Ticket)
                .where(col(Ticket.customer_id) == customer.id, col(Ticket.status).in_(OPEN_STATUSES))
                .order_by(col(Ticket.id))
            )
        ).scalars()
    )
    recent_tickets = list(
        (
            await session.execute(
                select(Ticket)
                .where(col(Ticket.customer_id) == customer.id, col(Ticket.status).not_in(OPEN_STATUSES))
                .order_by(col(Ticket.id).desc())
                .limit(recent)
            )
        ).scalars()
    )
    last_satisfaction = (
        await session.execute(
            select(SurveyResponse)
            .where(col(SurveyResponse.customer_id) == customer.id, col(SurveyResponse.kind) == "csat")
            .order_by(col(SurveyResponse.created_at).desc(), col(SurveyResponse.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    notes = await list_notes(session, customer_id=customer.id)
    return CustomerCard(customer, last_purchase, open_tickets, recent_tickets, last_satisfaction, notes)


async def segment_history(session: AsyncSession, *, customer_id: int, limit: int = 10) -> list[SegmentChange]:
    """The customer's segment moves, newest first."""
    result = await session.execute(
        select(SegmentChange)
        .where(col(SegmentChange.customer_id) == customer_id)
        .order_by(col(SegmentChange.changed_at).desc(), col(SegmentChange.id).desc())
        .limit(limit)
    )
    return list(result.scalars())


async def survey_answers(session: AsyncSession, *, customer_id: int, limit: int = 10) -> list[SurveyResponse]:
    """The customer's CSAT and NPS answers, newest first."""
    result = await session.execute(
        select(SurveyResponse)
        .where(col(SurveyResponse.customer_id) == customer_id)
        .order_by(col(SurveyResponse.created_at).desc(), col(SurveyResponse.id).desc())
        .limit(limit)
    )
    return list(result.scalars())
