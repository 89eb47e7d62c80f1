"""Everything a customer card shows, gathered in a few queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.agreements import CustomerAgreement, customer_agreement
from storage.models import Customer, CustomerNote, Purchase, SegmentChange, SurveyResponse, Ticket, TicketStatus
from storage.notes import list_notes
from storage.surveys import SurveyKind
from storage.types import utcnow

OPEN_STATUSES = (TicketStatus.OPEN.value, TicketStatus.PENDING.value)


@dataclass(frozen=True)
class CustomerCard:
    customer: Customer
    last_purchase: Purchase | None
    open_tickets: list[Ticket]
    recent_tickets: list[Ticket]  # resolved or closed, newest first
    last_satisfaction: SurveyResponse | None
    notes: list[CustomerNote]
    agreement: CustomerAgreement
    segment_changes: list[SegmentChange]  # the last few, newest first
    last_nps: SurveyResponse | None


async def _last_survey(session: AsyncSession, *, customer_id: int, kind: SurveyKind) -> SurveyResponse | None:
    result = await session.execute(
        select(SurveyResponse)
        .where(col(SurveyResponse.customer_id) == customer_id, col(SurveyResponse.kind) == kind.value)
        .order_by(col(SurveyResponse.created_at).desc(), col(SurveyResponse.id).desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def customer_card(
    session: AsyncSession, *, customer: Customer, recent: int = 3, now: datetime | None = None
) -> CustomerCard:
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
    segment_changes = list(
        (
            await session.execute(
                select(SegmentChange)
                .where(col(SegmentChange.customer_id) == customer.id)
                .order_by(col(SegmentChange.changed_at).desc(), col(SegmentChange.id).desc())
                .limit(recent)
            )
        ).scalars()
    )
    notes = await list_notes(session, customer_id=customer.id)
    return CustomerCard(
        customer,
        last_purchase,
        open_tickets,
        recent_tickets,
        await _last_survey(session, customer_id=customer.id, kind=SurveyKind.CSAT),
        notes,
        await customer_agreement(session, customer_id=customer.id, now=now or utcnow()),
        segment_changes,
        await _last_survey(session, customer_id=customer.id, kind=SurveyKind.NPS),
    )


async def survey_answers(session: AsyncSession, *, customer_id: int, limit: int = 10) -> list[SurveyResponse]:
    """The customer's CSAT and NPS answers, newest first (the desk's card lists them)."""
    result = await session.execute(
        select(SurveyResponse)
        .where(col(SurveyResponse.customer_id) == customer_id)
        .order_by(col(SurveyResponse.created_at).desc(), col(SurveyResponse.id).desc())
        .limit(limit)
    )
    return list(result.scalars())
