"""Who gets a ticket, from the bot's side: the routing policy read from the settings, and what follows when
tickets change hands (an agent goes away, leaves the staff, blocks the bot, or a ticket is given to someone).
The rules themselves are in storage/routing.py; every hand-over is queued for the relay in the same transaction.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.context import Services
from bot.tickets.relay import relay_of
from storage import routing, staff
from storage.db import transaction
from storage.models import Customer, Segment, Ticket
from storage.types import utcnow

App = Application[Any, Any, Any, Any, Any, Any]


def _services(app: App) -> Services:
    services: Services = app.bot_data["services"]
    return services


async def open_inbox(app: App, telegram_id: int, name: str | None) -> None:
    """A staff member started a private chat with the bot: tickets may be delivered there from now on."""
    async with transaction(_services(app).sessions) as session:
        await routing.update_agent(session, telegram_id=telegram_id, name=name, values={"inbox_open": True})


async def set_away(app: App, telegram_id: int, name: str | None, *, away: bool) -> list[tuple[Ticket, int | None]]:
    """`/away` hands the agent's open tickets to others (or back to the group); `/back` takes new ones again."""
    services = _services(app)
    async with transaction(services.sessions) as session:
        await routing.update_agent(session, telegram_id=telegram_id, name=name, values={"away": away})
        moved = (
            await routing.release(session, telegram_id=telegram_id, policy=services.settings.routing_policy)
            if away
            else []
        )
    relay_of(app).wake()
    return moved


async def release(app: App, telegram_id: int) -> list[tuple[Ticket, int | None]]:
    """A staff member left the staff: their open tickets go to others (or back to the group)."""
    services = _services(app)
    async with transaction(services.sessions) as session:
        moved = await routing.release(session, telegram_id=telegram_id, policy=services.settings.routing_policy)
    relay_of(app).wake()
    return moved


async def inbox_gone(app: App, chat_id: int) -> None:
    """The agent's private chat cannot be written to (they blocked the bot): it closes, their tickets move."""
    services = _services(app)
    async with transaction(services.sessions) as session:
        await routing.inbox_closed(session, telegram_id=chat_id)
        await routing.release(session, telegram_id=chat_id, policy=services.settings.routing_policy)
    relay_of(app).wake()


async def hand_over(app: App, ticket_id: int, telegram_id: int, name: str | None) -> Ticket | None:
    """Give a ticket to a staff member (Take, /assign, the Assign button); their inbox gets the ticket so far."""
    async with transaction(_services(app).sessions) as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return None
        await routing.assign(session, ticket=ticket, telegram_id=telegram_id, name=name, history=True, now=utcnow())
    relay_of(app).wake()
    return ticket


async def manager_first_name(app: App, customer: Customer) -> str | None:
    """A VIP customer's account manager's first name (one is chosen now if they have none yet)."""
    if customer.id is None or customer.segment != Segment.VIP.value:
        return None
    services = _services(app)
    async with transaction(services.sessions) as session:
        manager = await routing.ensure_manager(session, customer=customer, policy=services.settings.routing_policy)
        if manager is None:
            return None
        agent = await routing.get_agent(session, telegram_id=manager)
        member = await staff.staff_member(session, telegram_id=manager)
    name = (agent.name if agent else None) or (member.name if member else None)
    return name.split()[0] if name else None
