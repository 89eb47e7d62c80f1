"""A staff reply sent to the customer and stored, and an internal note kept, from the staff chat (bot/tickets/desk.py)
or the web desk (bot/web/): one path each, whoever writes.

A reply written on the desk is no staff-chat message: the staff chat is shown it under the ticket, through the
relay queue, so the team in the group sees the whole conversation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram.error import BadRequest

from bot.context import Context
from bot.tickets.filing import to_customer
from bot.tickets.relay import refresh_cards, relay_of
from bot.ui.i18n import Safe, t
from storage import business, staff_deliveries, ticket_places, tickets
from storage.db import transaction
from storage.models import Customer, MessageDirection, Ticket, TicketStatus

log = logging.getLogger(__name__)

REPLY_SHOWN = 3500  # of a desk reply's text, in its notice to the staff chat (a message holds 4096 characters)


async def refresh(context: Context, ticket_id: int, *, topic: str | None = None) -> None:
    """The ticket's cards show it as it is now (queued: a burst of changes is one edit)."""
    await refresh_cards(context.application, ticket_id, topic=topic)


@dataclass(frozen=True)
class ReplyPart:
    """One message of a staff reply as stored: what it is, and the staff-chat message it was (none from the desk)."""

    kind: str
    text: str | None
    file_id: str | None = None
    staff_chat_id: int | None = None
    staff_message_id: int | None = None


async def send_reply(
    context: Context,
    ticket_id: int,
    parts: list[ReplyPart],
    *,
    send: Callable[..., Awaitable[list[int]]],
    author_telegram_id: int,
    lang: str,
    author_name: str | None = None,
) -> Safe | None:
    """A staff reply to the customer of the ticket, from the staff chat, an inbox or the desk: `send(**chat)` sends
    the parts to the customer's chat (`chat_id`, and a business connection's id when the ticket is answered in a
    business chat) and returns their message ids; then they are stored and the ticket moves on. A reply that is not a
    staff-chat message (the desk's) is shown in the staff chat under the ticket, as written by `author_name`.
    Returns None when delivered, else what to tell the staff member (closed ticket, refused, customer unreachable,
    answer from the business app)."""
    async with context.services.sessions() as session:
        ticket = await tickets.get_ticket(session, ticket_id=ticket_id)
        customer = await session.get(Customer, ticket.customer_id) if ticket else None
        connection = await business.reply_connection(session, ticket_id=ticket_id)
    if ticket is None or customer is None:
        return t(lang, "tickets.staff.no_such_ticket", number=ticket_id)
    if ticket.status == TicketStatus.CLOSED.value:
        return t(lang, "tickets.staff.reply_to_closed", number=ticket.id)
    try:
        copies = await to_customer(context, customer.telegram_id, send, business_connection_id=connection)
    except BadRequest as error:
        return t(lang, "tickets.staff.not_delivered", reason=error.message)
    if copies is None:
        await refresh(context, ticket_id)  # the card says why
        return t(lang, "business.staff.answer_in_app" if connection else "tickets.staff.undeliverable")
    async with transaction(context.services.sessions) as session:
        current = await tickets.get_ticket(session, ticket_id=ticket_id)
        assert current is not None
        before = (current.status, current.first_response_at)
        for part, copy_id in zip(parts, copies, strict=True):
            stored = await ticket_places.record_staff_message(
                session,
                ticket=current,
                direction=MessageDirection.OUT,
                kind=part.kind,
                text=part.text,
                file_id=part.file_id,
                author_telegram_id=author_telegram_id,
                staff_chat_id=part.staff_chat_id,
                staff_message_id=part.staff_message_id,
                customer_chat_id=customer.telegram_id,
                customer_message_id=copy_id,
                business_connection_id=connection,
            )
            if part.staff_chat_id is None:
                await staff_deliveries.enqueue(
                    session,
                    key=f"notice:reply:{stored.id}",
                    ticket_id=ticket_id,
                    kind="notice",
                    params={
                        "template": "webapp.staff_chat.reply",
                        "params": {
                            "name": author_name or str(author_telegram_id),
                            "text": (part.text or "")[:REPLY_SHOWN],
                        },
                    },
                )
        changed = before != (current.status, current.first_response_at)
    if any(part.staff_chat_id is None for part in parts):
        relay_of(context.application).wake()
    if changed:
        await refresh(context, ticket_id)
    return None


async def keep_note(
    context: Context,
    ticket: Ticket,
    *,
    author_telegram_id: int,
    text: str,
    staff_chat_id: int | None = None,
    staff_message_id: int | None = None,
) -> bool:
    """An internal note in the ticket (from the staff chat, or the desk without a staff-chat message), never sent
    to the customer. False when that staff-chat message was stored before."""
    async with transaction(context.services.sessions) as session:
        if (
            staff_chat_id is not None
            and staff_message_id is not None
            and await ticket_places.find_staff_message(session, chat_id=staff_chat_id, message_id=staff_message_id)
        ):
            return False
        await ticket_places.record_staff_message(
            session,
            ticket=ticket,
            direction=MessageDirection.NOTE,
            kind="text",
            text=text,
            file_id=None,
            author_telegram_id=author_telegram_id,
            staff_chat_id=staff_chat_id,
            staff_message_id=staff_message_id,
        )
    return True
