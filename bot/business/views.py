"""What the staff card says about a ticket's business chat: where the customer wrote, whether Carebot can answer
there, and the messages the customer deleted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from bot.ui.i18n import Safe, t
from storage import business
from storage.models import Customer, Ticket


@dataclass(frozen=True)
class CardNotes:
    lines: list[Safe] = field(default_factory=list)
    business_chat: bool = False  # answers go to a business chat (the bot chat being blocked does not matter)


async def card_notes(
    session: AsyncSession, tickets: Sequence[Ticket], settings: Settings, lang: str
) -> dict[int, CardNotes]:
    """Extra lines for the tickets' cards, by ticket id (none for a ticket of the bot chat only), read for all of
    them at once."""
    ids = [ticket.id for ticket in tickets if ticket.id is not None]
    connections = await business.reply_connections(session, ticket_ids=ids)
    deleted = await business.deleted_counts(session, ticket_ids=ids)
    found: dict[int, CardNotes] = {}
    for ticket in tickets:
        assert ticket.id is not None
        notes: list[Safe] = []
        connection = connections.get(ticket.id, "")
        if connection:
            notes.append(t(lang, "business.card.via"))
            customer_chat = await _customer_chat(session, ticket)
            block = await business.reply_block(
                session, connection_id=connection, chat_id=customer_chat, admin_ids=settings.admin_ids
            )
            if block is not None:
                notes.append(t(lang, "business.card.answer_in_app", reason=t(lang, f"business.block.{block.value}")))
        if count := deleted.get(ticket.id, 0):
            notes.append(t(lang, "business.card.deleted", count=count))
        found[ticket.id] = CardNotes(notes, business_chat=bool(connection))
    return found


async def _customer_chat(session: AsyncSession, ticket: Ticket) -> int:
    customer = await session.get(Customer, ticket.customer_id)
    return customer.telegram_id if customer is not None else 0
