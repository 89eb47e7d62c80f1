"""Survey answers: CSAT after a ticket (1–5, linked to the ticket and who handled it) and periodic NPS (0–10)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import SurveyResponse, Ticket
from storage.types import utcnow

CSAT_SCORES = range(1, 6)
NPS_SCORES = range(0, 11)
CSAT_COMMENT_AT_MOST = 3  # a score this low asks what went wrong
NPS_DETRACTOR_AT_MOST = 6  # 0–6 detractors, 7–8 passives, 9–10 promoters: the NPS rule
NPS_PROMOTER_AT_LEAST = 9
NPS_COMMENT_AT_MOST = NPS_DETRACTOR_AT_MOST  # detractors are asked why
COMMENT_MAX_CHARS = 4000


class SurveyKind(StrEnum):
    CSAT = "csat"
    NPS = "nps"


async def record_csat(session: AsyncSession, *, ticket_id: int, customer_id: int, score: int) -> SurveyResponse | None:
    """Store (or change) the score of one ticket; None when the ticket is not this customer's or the score is odd."""
    if score not in CSAT_SCORES:
        return None
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.customer_id != customer_id:
        return None
    found = select(SurveyResponse).where(col(SurveyResponse.ticket_id) == ticket_id)
    response = (await session.execute(found)).scalar_one_or_none()
    if response is None:  # one answer per ticket, also when two presses arrive at two replicas at once
        try:
            async with session.begin_nested():
                response = SurveyResponse(
                    kind=SurveyKind.CSAT.value, customer_id=customer_id, ticket_id=ticket_id, score=score
                )
                session.add(response)
                await session.flush()
        except IntegrityError:
            response = (await session.execute(found)).scalar_one()
    response.score = score
    response.staff_telegram_id = ticket.assignee_telegram_id
    response.created_at = utcnow()
    session.add(response)
    await session.flush()
    return response


async def record_nps(session: AsyncSession, *, customer_id: int, score: int, window_days: int) -> SurveyResponse | None:
    """Store the customer's 0–10 answer; a second press within the same survey round changes it."""
    if score not in NPS_SCORES:
        return None
    since = utcnow() - timedelta(days=window_days)
    result = await session.execute(
        select(SurveyResponse)
        .where(
            col(SurveyResponse.kind) == SurveyKind.NPS.value,
            col(SurveyResponse.customer_id) == customer_id,
            col(SurveyResponse.created_at) >= since,
        )
        .order_by(col(SurveyResponse.created_at).desc())
        .limit(1)
    )
    response = result.scalar_one_or_none() or SurveyResponse(
        kind=SurveyKind.NPS.value, customer_id=customer_id, score=score
    )
    response.score = score
    response.created_at = utcnow()
    session.add(response)
    await session.flush()
    return response


async def add_comment(session: AsyncSession, *, response_id: int, customer_id: int, comment: str) -> bool:
    """Attach the customer's words to their answer; False when the answer is not theirs."""
    response = await session.get(SurveyResponse, response_id)
    if response is None or response.customer_id != customer_id:
        return False
    response.comment = comment.strip()[:COMMENT_MAX_CHARS]
    session.add(response)
    return True


async def answered_tickets(session: AsyncSession, *, ticket_ids: list[int]) -> set[int]:
    if not ticket_ids:
        return set()
    result = await session.execute(
        select(col(SurveyResponse.ticket_id)).where(col(SurveyResponse.ticket_id).in_(ticket_ids))
    )
    return {ticket_id for (ticket_id,) in result.all() if ticket_id is not None}


async def responses(session: AsyncSession, *, kind: SurveyKind, since: datetime) -> list[SurveyResponse]:
    result = await session.execute(
        select(SurveyResponse)
        .where(col(SurveyResponse.kind) == kind.value, col(SurveyResponse.created_at) >= since)
        .order_by(col(SurveyResponse.created_at))
    )
    return list(result.scalars())
