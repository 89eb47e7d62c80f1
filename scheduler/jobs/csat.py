"""After a ticket is closed the customer is asked "How did we do?" (1–5); one reminder 24 hours later if they
have not answered. Closed tickets are few, so they are read and planned in one bulk insert.

Whoever closes a ticket (staff, the customer, autoclose) plans its survey in the closing transaction with
`plan_at_closing`, under the same key as this job, which then only catches what nobody planned (a safety net).
A survey planned by a staff or customer closing waits `HOLD_AT_CLOSING` so that the closing message, sent right
after the commit, comes first; the closer then releases it (`release_survey`) and wakes the sender. A crash in
between only delays it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec
from storage.db import SessionFactory, transaction
from storage.models import Customer, OutboxMessage, OutboxStatus, Ticket, TicketStatus
from storage.outbox import PlannedMessage, enqueue_many, release
from storage.proactive import proactive_allowed
from storage.surveys import CSAT_SCORES, answered_tickets

LOOK_BACK = timedelta(days=7)  # tickets closed longer ago than this are not surveyed any more
REMIND_AFTER = timedelta(hours=24)
HOLD_AT_CLOSING = timedelta(minutes=1)


def csat_buttons(ticket_id: int) -> list[list[list[str]]]:
    return [[[str(score), f"care:csat:{ticket_id}:{score}"] for score in CSAT_SCORES]]


def survey_key(ticket_id: int) -> str:
    return f"csat:ticket:{ticket_id}"


async def plan_at_closing(
    session: AsyncSession, *, ticket_ids: Sequence[int], now: datetime, hold: timedelta = timedelta(0)
) -> int:
    """Plan the survey of tickets closed in this transaction, due `hold` from now; returns how many were planned
    (none for a ticket surveyed before, or a customer who takes no proactive messages)."""
    if not ticket_ids:
        return 0
    return await _plan_surveys(session, col(Ticket.id).in_(list(ticket_ids)), not_before=now + hold)


async def release_survey(sessions: SessionFactory, *, ticket_id: int, now: datetime) -> bool:
    """The closing message went: the survey held for it may go now. True when one was waiting."""
    async with transaction(sessions) as session:
        return await release(session, key=survey_key(ticket_id), now=now)


async def _plan_surveys(session: AsyncSession, which: Any, *, not_before: datetime | None = None) -> int:
    closed = await session.execute(
        select(col(Ticket.id), col(Customer.id), col(Customer.telegram_id))
        .join(Customer, col(Customer.id) == col(Ticket.customer_id))
        .where(col(Ticket.status) == TicketStatus.CLOSED.value, which, proactive_allowed())
    )
    surveys = [
        _survey(ticket_id, customer_id, chat_id, "csat", survey_key(ticket_id), "care.csat", not_before)
        for ticket_id, customer_id, chat_id in closed.all()
    ]
    return await enqueue_many(session, messages=surveys)


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    async with transaction(sessions) as session:
        planned = await _plan_surveys(session, col(Ticket.closed_at) >= now - LOOK_BACK)
        asked = await session.execute(
            select(col(OutboxMessage.key), col(OutboxMessage.customer_id), col(OutboxMessage.chat_id)).where(
                col(OutboxMessage.kind) == "csat",
                col(OutboxMessage.status) == OutboxStatus.SENT.value,
                col(OutboxMessage.sent_at) <= now - REMIND_AFTER,
                col(OutboxMessage.sent_at) >= now - REMIND_AFTER - LOOK_BACK,
            )
        )
        waiting = {int(key.rsplit(":", 1)[1]): (customer_id, chat_id) for key, customer_id, chat_id in asked.all()}
        answered = await answered_tickets(session, ticket_ids=list(waiting))
        reminders = [
            _survey(
                ticket_id,
                customer_id,
                chat_id,
                "csat_reminder",
                f"csat-reminder:ticket:{ticket_id}",
                "care.csat.reminder",
            )
            for ticket_id, (customer_id, chat_id) in waiting.items()
            if ticket_id not in answered
        ]
        return planned + await enqueue_many(session, messages=reminders)


def _survey(
    ticket_id: int,
    customer_id: Any,
    chat_id: int,
    kind: str,
    key: str,
    template: str,
    not_before: datetime | None = None,
) -> PlannedMessage:
    return PlannedMessage(
        key=key,
        kind=kind,
        chat_id=chat_id,
        customer_id=customer_id,
        template=template,
        params={"number": ticket_id, "buttons": csat_buttons(ticket_id)},
        not_before=not_before,
    )


def trigger(config: CareConfig) -> BaseTrigger:
    return IntervalTrigger(minutes=5, timezone=config.zone)


JOB = JobSpec("csat", "'How did we do?' after a closed ticket, one reminder after 24 h", trigger, plan)
