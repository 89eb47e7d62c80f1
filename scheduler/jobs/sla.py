"""Response-time reminders: open tickets still waiting for a first answer past their target (VIP: a shorter one),
counted in business hours, are listed in ONE digest in the staff chat. A new digest goes out only when a ticket
became overdue since the last one; it lists every ticket still overdue."""

from __future__ import annotations

import json
from datetime import datetime

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec
from storage.db import SessionFactory, transaction
from storage.models import Customer, OutboxMessage, Segment, Ticket, TicketStatus
from storage.outbox import PlannedMessage, enqueue_many
from storage.sla import first_response

MAX_LINES = 40  # keeps the digest well under Telegram's 4096 characters


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    if config.staff_chat_id is None:
        return 0
    hours = config.hours
    async with transaction(sessions) as session:
        waiting = await session.execute(
            select(Ticket, Customer)
            .join(Customer, col(Customer.id) == col(Ticket.customer_id))
            .where(col(Ticket.status) == TicketStatus.OPEN.value, col(Ticket.first_response_at).is_(None))
            .order_by(col(Ticket.opened_at))
        )
        overdue = []
        for ticket, customer in waiting.all():
            clock = first_response(ticket, segment=customer.segment, hours=hours, targets=config.sla, now=now)
            if clock.late:
                vip = customer.segment == Segment.VIP.value
                overdue.append((ticket, customer, vip, int(clock.waited), clock.target))
        if not overdue:
            return 0
        ids = sorted(ticket.id for ticket, *_ in overdue if ticket.id is not None)
        last = await session.execute(
            select(col(OutboxMessage.params))
            .where(col(OutboxMessage.kind) == "sla")
            .order_by(col(OutboxMessage.id).desc())
            .limit(1)
        )
        previous = last.scalar_one_or_none()
        if previous is not None and set(ids) <= set(json.loads(previous).get("ticket_ids", [])):
            return 0  # nothing became overdue since the last digest
        lines = [
            {
                "number": ticket.id,
                "vip": "⭐ " if vip else "",
                "name": customer.display_name,
                "waited": waited,
                "target": target,
            }
            for ticket, customer, vip, waited, target in overdue[:MAX_LINES]
        ]
        hidden = len(overdue) - len(lines)
        digest = PlannedMessage(
            key=f"sla:{now.strftime('%Y%m%dT%H%M%S')}",
            kind="sla",
            chat_id=config.staff_chat_id,
            template="care.sla.digest",
            params={
                "count": len(overdue),
                "tickets": {"template": "care.sla.line", "items": lines},
                "more": {"template": "care.sla.more", "items": [{"count": hidden}] if hidden else []},
                "ticket_ids": ids,
            },
        )
        return await enqueue_many(session, messages=[digest])


def trigger(config: CareConfig) -> BaseTrigger:
    return IntervalTrigger(minutes=5, timezone=config.zone)


JOB = JobSpec("sla", "one staff-chat digest of tickets past their first-response target", trigger, plan)
