"""Where a ticket is shown to staff, and what staff write in it: the ticket a staff-chat or inbox message is
about, where each customer message was shown, the cards' places, staff replies and notes."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import staff_deliveries
from storage.models import MessageDirection, StaffDelivery, Ticket, TicketMessage, TicketStatus
from storage.raw import Tx
from storage.types import utcnow


async def ticket_in_staff_chat(
    session: AsyncSession, *, chat_id: int, thread_id: int | None, reply_to_message_id: int | None
) -> Ticket | None:
    """The ticket a staff-chat (or inbox) message is about: its forum topic, else the card or copied message it
    replies to."""
    if thread_id is not None:
        result = await session.execute(
            select(Ticket)
            .where(col(Ticket.staff_chat_id) == chat_id, col(Ticket.staff_thread_id) == thread_id)
            .order_by(col(Ticket.id).desc())
            .limit(1)
        )
        ticket = result.scalar_one_or_none()
        if ticket is not None:
            return ticket
    if reply_to_message_id is None:
        return None
    result = await session.execute(
        select(Ticket).where(col(Ticket.staff_chat_id) == chat_id, col(Ticket.card_message_id) == reply_to_message_id)
    )
    ticket = result.scalars().first()
    if ticket is not None:
        return ticket
    result = await session.execute(
        select(Ticket).where(
            col(Ticket.inbox_chat_id) == chat_id, col(Ticket.inbox_card_message_id) == reply_to_message_id
        )
    )
    ticket = result.scalars().first()
    if ticket is not None:
        return ticket
    result = await session.execute(
        select(Ticket)
        .join(TicketMessage, col(TicketMessage.ticket_id) == col(Ticket.id))
        .where(col(TicketMessage.staff_chat_id) == chat_id, col(TicketMessage.staff_message_id) == reply_to_message_id)
        .limit(1)
    )
    ticket = result.scalars().first()
    if ticket is not None:
        return ticket
    result = await session.execute(  # a notice or an edit the relay showed
        select(Ticket)
        .join(StaffDelivery, col(StaffDelivery.ticket_id) == col(Ticket.id))
        .where(col(StaffDelivery.staff_chat_id) == chat_id, col(StaffDelivery.staff_message_id) == reply_to_message_id)
        .limit(1)
    )
    return result.scalars().first()


async def find_staff_message(session: AsyncSession, *, chat_id: int, message_id: int) -> TicketMessage | None:
    """A staff reply or note already stored for this staff-chat message (not the copies of customer messages)."""
    result = await session.execute(
        select(TicketMessage).where(
            col(TicketMessage.staff_chat_id) == chat_id,
            col(TicketMessage.staff_message_id) == message_id,
            col(TicketMessage.direction).in_(("out", "note")),
        )
    )
    return result.scalars().first()


async def record_staff_message(
    session: AsyncSession,
    *,
    ticket: Ticket,
    direction: MessageDirection,
    kind: str,
    text: str | None,
    file_id: str | None,
    author_telegram_id: int,
    staff_chat_id: int | None,
    staff_message_id: int | None,
    customer_chat_id: int | None = None,
    customer_message_id: int | None = None,
    business_connection_id: str = "",
) -> TicketMessage:
    """Store a staff reply (`out`, copied to the customer) or an internal `note`; a reply moves the ticket on."""
    now = utcnow()
    message = TicketMessage(
        ticket_id=ticket.id,  # type: ignore[arg-type]
        direction=direction,
        kind=kind,
        text=text,
        file_id=file_id,
        author_telegram_id=author_telegram_id,
        staff_chat_id=staff_chat_id,
        staff_message_id=staff_message_id,
        customer_chat_id=customer_chat_id,
        customer_message_id=customer_message_id,
        business_connection_id=business_connection_id,
        created_at=now,
    )
    session.add(message)
    if direction == MessageDirection.OUT:
        if ticket.first_response_at is None:
            ticket.first_response_at = now
        if ticket.status == TicketStatus.OPEN:
            ticket.status = TicketStatus.PENDING
        ticket.waiting_since = None
        ticket.updated_at = now
        session.add(ticket)
    await session.flush()
    return message


async def shown_copy(session: AsyncSession, *, message: TicketMessage, chat_id: int) -> int | None:
    """Where a customer message's copy is in `chat_id` (the group or an inbox), if it was shown there."""
    if message.staff_chat_id == chat_id and message.staff_message_id is not None:
        return message.staff_message_id
    result = await session.execute(
        select(col(StaffDelivery.staff_message_id))
        .where(
            col(StaffDelivery.ticket_message_id) == message.id,
            col(StaffDelivery.kind) == "copy",
            col(StaffDelivery.staff_chat_id) == chat_id,
        )
        .limit(1)
    )
    return result.scalar_one_or_none()


async def texts_shown_in(session: AsyncSession, *, chat_id: int, message_id: int) -> list[str]:
    """The customer texts carried by one message the relay sent (an inbox card), in order."""
    result = await session.execute(
        select(col(TicketMessage.text))
        .join(StaffDelivery, col(StaffDelivery.ticket_message_id) == col(TicketMessage.id))
        .where(
            col(StaffDelivery.staff_chat_id) == chat_id,
            col(StaffDelivery.staff_message_id) == message_id,
            col(StaffDelivery.kind) == "copy",
        )
        .order_by(col(StaffDelivery.id))
    )
    return [text or "" for text in result.scalars()]


async def place_in_inbox(session: AsyncSession, *, ticket_id: int, chat_id: int, card_message_id: int) -> None:
    """Remember the ticket's card in its assignee's inbox (a reply to it there is about this ticket)."""
    await session.execute(
        update(Ticket)
        .where(col(Ticket.id) == ticket_id, col(Ticket.inbox_chat_id) == chat_id)
        .values(inbox_card_message_id=card_message_id)
    )
    await staff_deliveries.record_shown(
        session,
        key=f"inboxcard:{ticket_id}:{chat_id}:{card_message_id}",
        ticket_id=ticket_id,
        chat_id=chat_id,
        message_id=card_message_id,
    )


async def place_in_staff_chat(
    tx: Tx, *, ticket_id: int, chat_id: int | None, thread_id: int | None, card_message_id: int | None
) -> None:
    """Remember where the ticket lives in the staff chat (its topic and card); None forgets it. On the hot path's
    connection: every new ticket's card."""
    await tx.run(
        "UPDATE tickets SET staff_chat_id = ?, staff_thread_id = ?, card_message_id = ? WHERE id = ?",
        chat_id,
        thread_id,
        card_message_id,
        ticket_id,
    )


async def update_staff_message(
    session: AsyncSession, *, message_id: int, text: str | None, file_id: str | None
) -> None:
    """A staff member edited a reply or note: keep the new version."""
    values: dict[str, object] = {"text": text, "edited_at": utcnow()}
    if file_id is not None:
        values["file_id"] = file_id
    await session.execute(update(TicketMessage).where(col(TicketMessage.id) == message_id).values(**values))
