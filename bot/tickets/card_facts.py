"""What a ticket's card says beyond the ticket and the customer (earlier tickets, the VIP's manager, when the
customer started waiting, whether they are staff, business-chat notes), read for many tickets at once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.business.views import card_notes
from bot.settings import Settings
from bot.tickets.views import CardFacts
from bot.ui.i18n import when
from storage import routing, staff, ticket_views
from storage.models import Customer, Ticket


async def card_facts(
    session: AsyncSession, tickets: dict[int, tuple[Ticket, Customer]], settings: Settings, lang: str
) -> dict[int, CardFacts]:
    """The facts of these tickets' cards, by ticket id, in a few queries for all of them."""
    if not tickets:
        return {}
    ticket_ids = sorted(tickets)
    earlier = await ticket_views.earlier_ticket_counts(session, ticket_ids=ticket_ids)
    managers = await routing.manager_names(
        session, customer_ids=sorted({customer.id for _, customer in tickets.values() if customer.id})
    )
    roles = await staff.roles_of(
        session, telegram_ids={customer.telegram_id for _, customer in tickets.values()}, admin_ids=settings.admin_ids
    )
    notes = await card_notes(session, [ticket for ticket, _ in tickets.values()], settings, lang)
    zone = settings.zone
    return {
        ticket_id: CardFacts(
            earlier.get(ticket_id, 0),
            managers.get(ticket.customer_id),
            waiting_since=when(ticket.waiting_since.astimezone(zone), lang) if ticket.waiting_since else None,
            staff_role=role.value if (role := roles.get(customer.telegram_id)) else None,
            notes=notes.get(ticket_id),
        )
        for ticket_id, (ticket, customer) in tickets.items()
    }
