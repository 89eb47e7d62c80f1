"""Hotline tickets: filing customer messages, staff replies and notes, and the ticket lifecycle.

Lifecycle: `open` (waiting for staff) -> `pending` (staff answered) -> `open` (the customer wrote again) ->
`resolved` -> `closed`. A customer writing to a resolved ticket, or to a closed one within the reopen window,
reopens it; later they get a new ticket. Filing is idempotent: a customer message is stored once (unique
`(customer_chat_id, customer_message_id)`), so a re-processed update changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import routing, staff_deliveries
from storage.customers import hold_customer
from storage.models import Customer, MessageDirection, StaffDelivery, Ticket, TicketMessage, TicketStatus
from storage.routing_rules import RoutingPolicy
from storage.types import utcnow

ACTIVE = (TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.RESOLVED)
ALBUM_HOLD = timedelta(seconds=0.8)  # album parts arrive as separate updates: relay them together


@dataclass(frozen=True)
class IncomingMessage:
    """A customer message as stored: what kind it is, its text or caption, and its media."""

    chat_id: int
    message_id: int
    kind: str
    text: str | None = None
    file_id: str | None = None
    media_group_id: str | None = None
    business_connection_id: str = ""  # the business chat it came from; "" for the chat with the bot


@dataclass(frozen=True)
class Filed:
    ticket: Ticket
    message: TicketMessage
    duplicate: bool = False
    opened: bool = False
    reopened: bool = False


async def get_ticket(session: AsyncSession, *, ticket_id: int) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def latest_ticket(session: AsyncSession, *, customer_id: int) -> Ticket | None:
    result = await session.execute(
        select(Ticket).where(col(Ticket.customer_id) == customer_id).order_by(col(Ticket.id).desc()).limit(1)
    )
    return result.scalar_one_or_none()


async def current_ticket(session: AsyncSession, *, customer_id: int, reopen_days: int, now: datetime) -> Ticket | None:
    """The ticket a new message of this customer joins: their latest, if still active or closed recently."""
    ticket = await latest_ticket(session, customer_id=customer_id)
    if ticket is None:
        return None
    if ticket.status in ACTIVE:
        return ticket
    if ticket.closed_at is not None and now - ticket.closed_at <= timedelta(days=reopen_days):
        return ticket
    return None


async def find_customer_message(
    session: AsyncSession, *, chat_id: int, message_id: int, business_connection_id: str = ""
) -> TicketMessage | None:
    """A message of the customer's chat (the bot chat, or the business chat of `business_connection_id`)."""
    result = await session.execute(
        select(TicketMessage).where(
            col(TicketMessage.customer_chat_id) == chat_id,
            col(TicketMessage.customer_message_id) == message_id,
            col(TicketMessage.business_connection_id) == business_connection_id,
        )
    )
    return result.scalar_one_or_none()


def _reopen(ticket: Ticket, now: datetime) -> bool:
    """The customer wrote: the ticket waits for staff again. Returns True when it was closed or resolved."""
    was = ticket.status
    if was != TicketStatus.OPEN:
        ticket.status = TicketStatus.OPEN
        ticket.waiting_since = now
    ticket.resolved_at = None
    ticket.closed_at = None
    ticket.updated_at = now
    return was in (TicketStatus.RESOLVED, TicketStatus.CLOSED)


async def file_customer_message(
    session: AsyncSession,
    *,
    customer: Customer,
    incoming: IncomingMessage,
    category: str,
    reopen_days: int,
    now: datetime | None = None,
    policy: RoutingPolicy | None = None,
) -> Filed:
    """Store a customer message in their current ticket (opening or reopening one) and queue it for staff."""
    now = now or utcnow()
    assert customer.id is not None
    await hold_customer(session, customer_id=customer.id)  # one transaction at a time picks this customer's ticket
    existing = await find_customer_message(
        session,
        chat_id=incoming.chat_id,
        message_id=incoming.message_id,
        business_connection_id=incoming.business_connection_id,
    )
    if existing is not None:
        ticket = await session.get(Ticket, existing.ticket_id)
        assert ticket is not None
        return Filed(ticket=ticket, message=existing, duplicate=True)
    assert customer.id is not None
    ticket = await current_ticket(session, customer_id=customer.id, reopen_days=reopen_days, now=now)
    return await file_in(
        session, ticket=ticket, customer=customer, incoming=incoming, category=category, now=now, policy=policy
    )


async def file_in(
    session: AsyncSession,
    *,
    ticket: Ticket | None,
    customer: Customer,
    incoming: IncomingMessage,
    category: str,
    now: datetime | None = None,
    policy: RoutingPolicy | None = None,
) -> Filed:
    """Store a new customer message in `ticket`, their `current_ticket` (reopened if need be), or in a new ticket
    when None; and queue it for staff. A new (or unassigned, reopened) ticket is routed by `policy`."""
    now = now or utcnow()
    assert customer.id is not None
    opened = reopened = False
    status_before = ticket.status if ticket else None
    if ticket is None:
        ticket = Ticket(customer_id=customer.id, category=category, opened_at=now, waiting_since=now, updated_at=now)
        opened = True
    else:
        reopened = _reopen(ticket, now)
    session.add(ticket)
    await session.flush()
    assert ticket.id is not None
    if opened or reopened:
        await routing.route_new(session, ticket=ticket, customer=customer, policy=policy, now=now)
    message = TicketMessage(
        ticket_id=ticket.id,
        direction=MessageDirection.IN,
        kind=incoming.kind,
        text=incoming.text,
        file_id=incoming.file_id,
        media_group_id=incoming.media_group_id,
        author_telegram_id=customer.telegram_id,
        customer_chat_id=incoming.chat_id,
        customer_message_id=incoming.message_id,
        business_connection_id=incoming.business_connection_id,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    assert message.id is not None
    not_before = now
    if incoming.media_group_id:
        not_before = now + ALBUM_HOLD
        await _hold_album(session, ticket_id=ticket.id, media_group_id=incoming.media_group_id, until=not_before)
    await staff_deliveries.enqueue_for_ticket(
        session,
        ticket=ticket,
        key=f"copy:{message.id}",
        kind="copy",
        ticket_message_id=message.id,
        not_before=not_before,
    )
    if not opened and status_before != ticket.status:
        await staff_deliveries.enqueue_for_ticket(
            session,
            ticket=ticket,
            key=f"card:m{message.id}",
            kind="card",
            params={"topic": "reopen" if reopened else None},
        )
    if reopened:
        await staff_deliveries.enqueue_for_ticket(
            session,
            ticket=ticket,
            key=f"notice:reopened:m{message.id}",
            kind="notice",
            params={"template": "tickets.staff.reopened_by_customer"},
        )
    return Filed(ticket=ticket, message=message, opened=opened, reopened=reopened)


async def _hold_album(session: AsyncSession, *, ticket_id: int, media_group_id: str, until: datetime) -> None:
    """Keep every queued part of an album back until its last part has had time to arrive."""
    parts = select(TicketMessage.id).where(
        col(TicketMessage.ticket_id) == ticket_id, col(TicketMessage.media_group_id) == media_group_id
    )
    await session.execute(
        update(StaffDelivery)
        .where(col(StaffDelivery.status) == "pending", col(StaffDelivery.ticket_message_id).in_(parts))
        .values(not_before=until)
    )


async def record_customer_edit(
    session: AsyncSession,
    *,
    chat_id: int,
    message_id: int,
    text: str | None,
    edit_key: str,
    business_connection_id: str = "",
) -> TicketMessage | None:
    """A customer edited a message of a ticket: keep the new text and queue the edit for staff."""
    message = await find_customer_message(
        session, chat_id=chat_id, message_id=message_id, business_connection_id=business_connection_id
    )
    if message is None or message.direction != "in":
        return None
    message.text = text
    message.edited_at = utcnow()
    session.add(message)
    ticket = await session.get(Ticket, message.ticket_id)
    assert ticket is not None
    await staff_deliveries.enqueue_for_ticket(
        session,
        ticket=ticket,
        key=f"edit:{message.id}:{edit_key}",
        kind="edit",
        ticket_message_id=message.id,
        params={"text": text or ""},
    )
    return message


def resolve(ticket: Ticket) -> bool:
    if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        return False
    ticket.status = TicketStatus.RESOLVED
    ticket.resolved_at = ticket.updated_at = utcnow()
    ticket.waiting_since = None
    return True


def close(ticket: Ticket) -> bool:
    """Closed: `closed_at` is what the satisfaction-survey planner looks for."""
    if ticket.status == TicketStatus.CLOSED:
        return False
    now = utcnow()
    ticket.status = TicketStatus.CLOSED
    ticket.closed_at = ticket.updated_at = now
    ticket.resolved_at = ticket.resolved_at or now
    ticket.waiting_since = None
    return True


def reopen(ticket: Ticket) -> bool:
    if ticket.status in (TicketStatus.OPEN, TicketStatus.PENDING):
        return False
    _reopen(ticket, utcnow())
    return True


async def queue(
    session: AsyncSession, *, statuses: Sequence[TicketStatus] = (TicketStatus.OPEN,)
) -> list[tuple[Ticket, Customer]]:
    """Tickets waiting for staff (or in any of `statuses`): VIP customers first, then the longest waiting."""
    result = await session.execute(
        select(Ticket, Customer)
        .join(Customer, col(Customer.id) == col(Ticket.customer_id))
        .where(col(Ticket.status).in_(statuses))
    )
    rows = [(ticket, customer) for ticket, customer in result.all()]
    rows.sort(key=lambda row: (row[1].segment != "vip", row[0].waiting_since or row[0].opened_at, row[0].id))
    return rows


async def status_counts(session: AsyncSession) -> dict[str, int]:
    """Tickets per status, every status named (0 when none)."""
    result = await session.execute(select(col(Ticket.status), func.count()).group_by(col(Ticket.status)))
    counts = {status.value: 0 for status in TicketStatus}
    counts.update({str(status): count for status, count in result.tuples().all()})
    return counts


async def count_by_status(session: AsyncSession, *, status: str) -> int:
    result = await session.execute(select(func.count()).select_from(Ticket).where(col(Ticket.status) == status))
    return int(result.scalar_one())


async def customer_tickets(session: AsyncSession, *, customer_id: int, limit: int = 10) -> list[Ticket]:
    result = await session.execute(
        select(Ticket).where(col(Ticket.customer_id) == customer_id).order_by(col(Ticket.id).desc()).limit(limit)
    )
    return list(result.scalars())


async def earlier_tickets(session: AsyncSession, *, ticket: Ticket) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(Ticket)
        .where(col(Ticket.customer_id) == ticket.customer_id, col(Ticket.id) < ticket.id)
    )
    return int(result.scalar_one())


async def first_message(session: AsyncSession, *, ticket_id: int) -> TicketMessage | None:
    result = await session.execute(
        select(TicketMessage)
        .where(col(TicketMessage.ticket_id) == ticket_id, col(TicketMessage.direction) == "in")
        .order_by(col(TicketMessage.id))
        .limit(1)
    )
    return result.scalar_one_or_none()


async def messages_by_id(session: AsyncSession, *, ids: list[int]) -> dict[int, TicketMessage]:
    if not ids:
        return {}
    result = await session.execute(select(TicketMessage).where(col(TicketMessage.id).in_(ids)))
    return {message.id: message for message in result.scalars() if message.id is not None}
