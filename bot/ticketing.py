"""Turning a customer's message into (part of) a ticket: store first, wake the staff relay, acknowledge.

Shared by the customer's messages, the menu topics and the FAQ's "Talk to a person" button.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import cache
from typing import TypeVar
from zoneinfo import ZoneInfo

from telegram import Message
from telegram.constants import ParseMode
from telegram.error import Forbidden

from bot.context import Context
from bot.i18n import t, when
from bot.staff_chat import relay_of
from bot.throttle import auto_replies
from bot.ticket_views import duration, sla_target
from storage import tickets
from storage.business_hours import BusinessHours, parse_business_hours
from storage.db import transaction
from storage.models import Customer, Ticket, TicketCategory
from storage.tickets import IncomingMessage
from storage.types import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

# The kinds of message a ticket carries (copyMessage relays each of them to staff as it is).
MEDIA_KINDS = ("photo", "animation", "video", "video_note", "voice", "audio", "document", "sticker")
CATEGORIES = tuple(c.value for c in TicketCategory)


def incoming_of(message: Message) -> IncomingMessage | None:
    """What the message is, or None for kinds Carebot does not relay (polls, dice, games, …)."""
    kind: str | None = None
    file_id: str | None = None
    if message.text is not None:
        kind = "text"
    else:
        for name in MEDIA_KINDS:
            media = getattr(message, name)
            if media:
                kind = name
                file_id = media[-1].file_id if isinstance(media, tuple) else media.file_id
                break
        else:
            if message.venue is not None:
                kind = "venue"
            elif message.location is not None:
                kind = "location"
            elif message.contact is not None:
                kind = "contact"
    if kind is None:
        return None
    return IncomingMessage(
        chat_id=message.chat_id,
        message_id=message.message_id,
        kind=kind,
        text=message.text if message.text is not None else message.caption,
        file_id=file_id,
        media_group_id=message.media_group_id,
    )


@cache
def business_hours(spec: str, zone: str, country: str) -> BusinessHours:
    return parse_business_hours(spec, timezone=zone, holiday_country=country)


async def file_message(
    context: Context, customer: Customer, incoming: IncomingMessage, *, category: str = "other"
) -> Ticket | None:
    """Store the message in the customer's ticket and acknowledge a new or reopened ticket.

    Returns the ticket, or None when this message was stored before (a re-processed update: nothing is doubled).
    """
    settings = context.services.settings
    async with transaction(context.services.sessions) as session:
        filed = await tickets.file_customer_message(
            session,
            customer=customer,
            incoming=incoming,
            category=category if category in CATEGORIES else "other",
            reopen_days=settings.reopen_days,
        )
    if filed.duplicate:
        return None
    relay_of(context.application).wake()
    if filed.opened or filed.reopened:
        await acknowledge(context, customer, filed.ticket, reopened=filed.reopened)
    return filed.ticket


def expectation(context: Context, customer: Customer) -> str:
    """When the customer can expect an answer: the first-response target, or when staff are back."""
    settings = context.services.settings
    lang = customer.language
    hours = business_hours(settings.business_hours, settings.timezone, settings.holiday_country)
    now = utcnow()
    back = hours.next_opening(now)
    if back <= now:
        return t(lang, "tickets.ack.soon", wait=duration(sla_target(customer, settings), lang))
    zone = ZoneInfo(customer.timezone or settings.timezone)
    return t(lang, "tickets.ack.away", when=when(back.astimezone(zone), lang), zone=str(zone))


async def acknowledge(context: Context, customer: Customer, ticket: Ticket, *, reopened: bool) -> None:
    """Always sent (once per new or reopened ticket), and counted among the automatic replies."""
    auto_replies(context.application).count(customer.telegram_id, "ack")
    lang = customer.language
    key = "tickets.ack.reopened" if reopened else "tickets.ack.new"
    text = t(lang, key, number=ticket.id) + "\n" + expectation(context, customer)
    await to_customer(
        context,
        customer.telegram_id,
        lambda: context.bot.send_message(customer.telegram_id, text, parse_mode=ParseMode.HTML),
    )


async def to_customer(context: Context, telegram_id: int, send: Callable[[], Awaitable[T]]) -> T | None:
    """Send to a customer; one who blocked the bot is marked unreachable (None is returned)."""
    try:
        return await send()
    except Forbidden:
        log.info("customer %s blocked the bot; marked unreachable", telegram_id)
        async with transaction(context.services.sessions) as session:
            await tickets.set_reachable(session, telegram_id=telegram_id, reachable=False)
        return None
