"""What the staff card says about a ticket's business chat: where the customer wrote, whether Carebot can answer
there, and the messages the customer deleted."""

from __future__ import annotations

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


async def card_notes(session: AsyncSession, ticket: Ticket, settings: Settings, lang: str) -> CardNotes:
    """Extra lines for the ticket's card (none for a ticket of the bot chat only)."""
    assert ticket.id is not None
    notes: list[Safe] = []
    connection = await business.reply_connection(session, ticket_id=ticket.id)
    if connection:
        notes.append(t(lang, "business.card.via"))
        customer_chat = await _customer_chat(session, ticket)
        block = await business.reply_block(
            session, connection_id=connection, chat_id=customer_chat, admin_ids=settings.admin_ids
        )
        if block is not None:
            notes.append(t(lang, "business.card.answer_in_app", reason=t(lang, f"business.block.{block.value}")))
    deleted = await business.deleted_count(session, ticket_id=ticket.id)
    if deleted:
        notes.append(t(lang, "business.card.deleted", count=deleted))
    return CardNotes(notes, business_chat=bool(connection))


async def _customer_chat(session: AsyncSession, ticket: Ticket) -> int:
    customer = await session.get(Customer, ticket.customer_id)
    return customer.telegram_id if customer is not None else 0
