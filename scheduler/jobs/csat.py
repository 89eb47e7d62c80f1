"""After a ticket is closed the customer is asked "How did we do?" (1–5); one reminder 24 hours later if they
have not answered. Closed tickets are few, so they are read and planned in one bulk insert."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec
from storage.db import SessionFactory, transaction
from storage.models import Customer, OutboxMessage, OutboxStatus, Ticket, TicketStatus
from storage.outbox import PlannedMessage, enqueue_many
from storage.proactive import proactive_allowed
from storage.surveys import CSAT_SCORES, answered_tickets

LOOK_BACK = timedelta(days=7)  # tickets closed longer ago than this are not surveyed any more
REMIND_AFTER = timedelta(hours=24)


def csat_buttons(ticket_id: int) -> list[list[list[str]]]:
    return [[[str(score), f"care:csat:{ticket_id}:{score}"] for score in CSAT_SCORES]]


def survey_key(ticket_id: int) -> str:
    return f"csat:ticket:{ticket_id}"


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    async with transaction(sessions) as session:
        closed = await session.execute(
            select(col(Ticket.id), col(Customer.id), col(Customer.telegram_id))
            .join(Customer, col(Customer.id) == col(Ticket.customer_id))
            .where(
                col(Ticket.status) == TicketStatus.CLOSED.value,
                col(Ticket.closed_at) >= now - LOOK_BACK,
                proactive_allowed(admin_ids=config.admin_ids),
            )
        )
        surveys = [
            _survey(ticket_id, customer_id, chat_id, "csat", survey_key(ticket_id), "care.csat")
            for ticket_id, customer_id, chat_id in closed.all()
        ]
        planned = await enqueue_many(session, messages=surveys)
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


def _survey(ticket_id: int, customer_id: Any, chat_id: int, kind: str, key: str, template: str) -> PlannedMessage:
    return PlannedMessage(
        key=key,
        kind=kind,
        chat_id=chat_id,
        customer_id=customer_id,
        template=template,
        params={"number": ticket_id, "buttons": csat_buttons(ticket_id)},
    )


def trigger(config: CareConfig) -> BaseTrigger:
    return IntervalTrigger(minutes=5, timezone=config.zone)


JOB = JobSpec("csat", "'How did we do?' after a closed ticket, one reminder after 24 h", trigger, plan)
