"""Escalation: assigned tickets still without a first answer past their target, shown to the whole team."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import staff_deliveries
from storage.business_hours import BusinessHours
from storage.models import Customer, DeliveryKind, Ticket, TicketStatus
from storage.sla import SlaTargets, first_response


async def escalate_overdue(
    session: AsyncSession,
    *,
    hours: BusinessHours,
    targets: SlaTargets,
    now: datetime,
) -> int:
    """Queue, once per ticket, the group's alert (with Take and Reassign) and the assignee's reminder for assigned
    tickets past their first-response target; returns how many tickets are overdue and assigned."""
    result = await session.execute(
        select(Ticket, Customer)
        .join(Customer, col(Customer.id) == col(Ticket.customer_id))
        .where(
            col(Ticket.status) == TicketStatus.OPEN.value,
            col(Ticket.first_response_at).is_(None),
            col(Ticket.assignee_telegram_id).isnot(None),
        )
    )
    overdue = 0
    for ticket, customer in result.tuples():
        if not first_response(ticket, segment=customer.segment, hours=hours, targets=targets, now=now).late:
            continue
        overdue += 1
        assert ticket.id is not None
        params = {"number": ticket.id, "name": customer.display_name, "assignee": ticket.assignee_name or "—"}
        await staff_deliveries.enqueue(
            session,
            key=f"escalation:{ticket.id}",
            ticket_id=ticket.id,
            kind=DeliveryKind.ALERT,
            params={"template": "tickets.escalated", "params": params},
        )
        if ticket.inbox_chat_id is not None:
            await staff_deliveries.enqueue(
                session,
                key=f"escalation:{ticket.id}:i{ticket.inbox_chat_id}",
                ticket_id=ticket.id,
                kind=DeliveryKind.NOTICE,
                chat_id=ticket.inbox_chat_id,
                params={"template": "tickets.escalated.reminder", "params": {"number": ticket.id}},
            )
    return overdue
