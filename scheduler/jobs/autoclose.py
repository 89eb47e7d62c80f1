"""Tickets resolved more than `CAREBOT_AUTOCLOSE_DAYS` ago are closed, and the customer is told; the CSAT survey
is planned in the same transaction, due at the same moment, so it goes right after the notice."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import update
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec
from scheduler.jobs.csat import plan_at_closing
from storage.db import SessionFactory, transaction
from storage.models import Customer, Ticket, TicketStatus
from storage.outbox import PlannedMessage, enqueue_many


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    async with transaction(sessions) as session:
        closed = await session.execute(
            update(Ticket)
            .where(
                col(Ticket.status) == TicketStatus.RESOLVED.value,
                col(Ticket.resolved_at) <= now - timedelta(days=config.autoclose_days),
            )
            .values(status=TicketStatus.CLOSED.value, closed_at=now, updated_at=now)
            .returning(col(Ticket.id))
        )
        ids = [ticket_id for (ticket_id,) in closed.all()]
        if not ids:
            return 0
        owners = await session.execute(
            select(col(Ticket.id), col(Customer.id), col(Customer.telegram_id))
            .join(Customer, col(Customer.id) == col(Ticket.customer_id))
            .where(col(Ticket.id).in_(ids))
        )
        notices = [
            PlannedMessage(
                key=f"autoclose:ticket:{ticket_id}",
                kind="autoclose",
                chat_id=chat_id,
                customer_id=customer_id,
                template="care.autoclose",
                params={"number": ticket_id},
                not_before=now,
            )
            for ticket_id, customer_id, chat_id in owners.all()
        ]
        await enqueue_many(session, messages=notices)
        await plan_at_closing(session, ticket_ids=ids, now=now)
        return len(ids)


def trigger(config: CareConfig) -> BaseTrigger:
    return IntervalTrigger(hours=1, timezone=config.zone)


JOB = JobSpec("autoclose", "close tickets resolved days ago, telling the customer", trigger, plan)
