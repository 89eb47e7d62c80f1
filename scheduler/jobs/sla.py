"""Response-time reminders, in ONE digest in the staff chat, counted in business hours (storage/sla.py):

- open tickets still waiting for a first answer past their target (VIP: a shorter one) — every digest lists every
  ticket still overdue;
- tickets unresolved past the resolution target (`CAREBOT_SLA_RESOLUTION_HOURS`), with their assignee — each
  ticket once: a digest carries the ids it (and the digests before it) reported, and a ticket still unresolved is
  not listed again. A ticket listed under the first answer is not listed under resolution in the same digest.

A new digest goes out only when a ticket became overdue since the last one.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec
from storage.db import SessionFactory, transaction
from storage.models import Customer, OutboxMessage, Segment, Ticket, TicketStatus
from storage.outbox import PlannedMessage, enqueue_many
from storage.sla import first_response, resolution

MAX_LINES = 40  # per section: keeps the digest well under Telegram's 4096 characters
UNRESOLVED = (TicketStatus.OPEN.value, TicketStatus.PENDING.value)


def _listed(template: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"template": template, "items": items}


def _section(line_template: str, lines: list[dict[str, Any]], **params: Any) -> list[dict[str, Any]]:
    """One section of the digest (no items when it has no lines): its first `MAX_LINES` lines, then how many more."""
    if not lines:
        return []
    hidden = len(lines) - MAX_LINES
    return [
        {
            **params,
            "tickets": _listed(line_template, lines[:MAX_LINES]),
            "more": _listed("care.sla.more", [{"count": hidden}] if hidden > 0 else []),
        }
    ]


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    if config.staff_chat_id is None:
        return 0
    hours, targets = config.hours, config.sla
    async with transaction(sessions) as session:
        active = await session.execute(
            select(Ticket, Customer)
            .join(Customer, col(Customer.id) == col(Ticket.customer_id))
            .where(col(Ticket.status).in_(UNRESOLVED))
            .order_by(col(Ticket.opened_at), col(Ticket.id))
        )
        first_late: list[dict[str, Any]] = []
        unresolved: list[tuple[int, dict[str, Any]]] = []
        for ticket, customer in active.all():
            assert ticket.id is not None
            vip = "⭐ " if customer.segment == Segment.VIP.value else ""
            if ticket.status == TicketStatus.OPEN.value and ticket.first_response_at is None:
                answer = first_response(ticket, segment=customer.segment, hours=hours, targets=targets, now=now)
                if answer.late:
                    first_late.append(
                        {
                            "number": ticket.id,
                            "vip": vip,
                            "name": customer.display_name,
                            "waited": int(answer.waited),
                            "target": answer.target,
                        }
                    )
                    continue
            clock = resolution(ticket, hours=hours, targets=targets, now=now)
            if clock.late:
                assignee = (
                    _listed("care.sla.assignee", [{"name": ticket.assignee_name}])
                    if ticket.assignee_name
                    else _listed("care.sla.unassigned", [{}])
                )
                line = {
                    "number": ticket.id,
                    "vip": vip,
                    "name": customer.display_name,
                    "open": int(clock.open_for // 60),
                    "target": targets.resolution_hours,
                    "assignee": assignee,
                }
                unresolved.append((ticket.id, line))
        last = await session.execute(
            select(col(OutboxMessage.params))
            .where(col(OutboxMessage.kind) == "sla")
            .order_by(col(OutboxMessage.id).desc())
            .limit(1)
        )
        previous_params = last.scalar_one_or_none()
        previous: dict[str, Any] = json.loads(previous_params) if previous_params is not None else {}
        first_ids = sorted(line["number"] for line in first_late)
        reported = set(previous.get("resolution_ids", [])) & {ticket_id for ticket_id, _ in unresolved}
        new_unresolved = [(ticket_id, line) for ticket_id, line in unresolved if ticket_id not in reported]
        newly_late = bool(first_ids) and (not previous or not set(first_ids) <= set(previous.get("ticket_ids", [])))
        if not newly_late and not new_unresolved:
            return 0
        listed = new_unresolved[:MAX_LINES]
        first_section = _section("care.sla.line", first_late, count=len(first_late))
        resolution_section = _section(
            "care.sla.resolution_line",
            [line for _, line in new_unresolved],
            count=len(listed),
            target=targets.resolution_hours,
        )
        digest = PlannedMessage(
            key=f"sla:{now.strftime('%Y%m%dT%H%M%S')}",
            kind="sla",
            chat_id=config.staff_chat_id,
            template="care.sla.report",
            params={
                "first": _listed("care.sla.digest", first_section),
                "gap": "\n\n" if first_section and resolution_section else "",
                "resolution": _listed("care.sla.resolution", resolution_section),
                "ticket_ids": first_ids,
                "resolution_ids": sorted(reported | {ticket_id for ticket_id, _ in listed}),
            },
        )
        return await enqueue_many(session, messages=[digest])


def trigger(config: CareConfig) -> BaseTrigger:
    return IntervalTrigger(minutes=5, timezone=config.zone)


JOB = JobSpec(
    "sla",
    "one staff-chat digest of tickets past their first-response target, and (once each) past the resolution target",
    trigger,
    plan,
)
