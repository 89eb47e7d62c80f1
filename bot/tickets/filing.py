"""Turning a customer's message into (part of) a ticket: store first, wake the staff relay, acknowledge.

Shared by the customer's messages, the menu topics and the FAQ's "Talk to a person" button. The common cases —
more texts to a ticket that is open, a customer's first texts opening one — go through `TextFiler`, which stores
many chats' texts in one transaction (storage/customer_texts.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from telegram import Message
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application

from bot.context import Context, Services
from bot.handlers.customer import reachability
from bot.runtime import metrics
from bot.runtime.throttle import auto_replies
from bot.tickets.relay import relay_of
from bot.tickets.views import duration, sla_target
from bot.ui.i18n import t, when
from storage import business, inbox, tickets
from storage.customer_texts import FiledRun, TextRun, file_texts
from storage.db import transaction
from storage.models import Customer, Ticket, TicketCategory
from storage.raw import Tx, raw_database
from storage.tickets import Filed, IncomingMessage
from storage.types import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")
FILER_KEY = "text_filer"

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
        business_connection_id=message.business_connection_id or "",
    )


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
            category=category_of(category),
            reopen_days=settings.reopen_days,
            policy=settings.routing_policy,
        )
    await after_filing(context, customer, filed)
    return None if filed.duplicate else filed.ticket


async def after_filing(context: Context, customer: Customer, filed: Filed) -> None:
    """Once a filed message is committed: the staff relay is woken, a new or reopened ticket acknowledged."""
    if filed.duplicate:
        return
    relay_of(context.application).wake()
    if filed.opened:
        metrics.count_ticket_opened()
    if filed.opened or filed.reopened:
        await acknowledge(
            context,
            customer,
            filed.ticket,
            reopened=filed.reopened,
            business_connection_id=filed.message.business_connection_id,
        )


def category_of(name: str) -> str:
    return name if name in CATEGORIES else "other"


def expectation(context: Context, customer: Customer) -> str:
    """When the customer can expect an answer: the first-response target, or when staff are back."""
    settings = context.services.settings
    lang = customer.language
    now = utcnow()
    back = settings.hours.next_opening(now)
    if back <= now:
        return t(lang, "tickets.ack.soon", wait=duration(sla_target(customer, settings), lang))
    zone = ZoneInfo(customer.timezone or settings.timezone)
    return t(lang, "tickets.ack.away", when=when(back.astimezone(zone), lang), zone=str(zone))


async def acknowledge(
    context: Context, customer: Customer, ticket: Ticket, *, reopened: bool, business_connection_id: str = ""
) -> None:
    """Sent once per new or reopened ticket (in a business chat only with `CAREBOT_BUSINESS_REPLIES=faq+tickets`),
    and counted among the automatic replies."""
    if business_connection_id and context.services.settings.business_replies != "faq+tickets":
        return
    auto_replies(context.application).count(customer.telegram_id, "ack")
    lang = customer.language
    key = "tickets.ack.reopened" if reopened else "tickets.ack.new"
    text = t(lang, key, number=ticket.id) + "\n" + expectation(context, customer)
    await to_customer(
        context,
        customer.telegram_id,
        lambda **chat: context.bot.send_message(text=text, parse_mode=ParseMode.HTML, **chat),
        business_connection_id=business_connection_id,
    )


async def to_customer(
    context: Context, telegram_id: int, send: Callable[..., Awaitable[T]], *, business_connection_id: str = ""
) -> T | None:
    """Send to a customer: the one way anything reaches one. `send(**chat)` gets the keyword arguments that
    address the customer's chat: `chat_id`, and `business_connection_id` for their chat with the business account.

    In the bot chat a customer who blocked the bot is marked unreachable (None is returned: the caller tells
    staff, if a staff member's reply bounced). In a business chat nothing is sent unless the connection may answer
    there now (storage/business.py: enabled, a staff owner, the right to reply, the 24-hour window); None then.
    """
    if business_connection_id:
        return await business_send(context, telegram_id, business_connection_id, send)
    try:
        return await send(chat_id=telegram_id)
    except Forbidden:
        await reachability.mark(context, telegram_id, unreachable=True, tell_staff=False)
        return None


async def business_send(
    context: Context, telegram_id: int, connection_id: str, send: Callable[..., Awaitable[T]]
) -> T | None:
    async with context.services.sessions() as session:
        block = await business.reply_block(
            session, connection_id=connection_id, chat_id=telegram_id, admin_ids=context.services.settings.admin_ids
        )
    if block is not None:
        log.info("not sent in a business chat: %s", block.value)
        return None
    try:
        return await send(chat_id=telegram_id, business_connection_id=connection_id)
    except TelegramError as error:  # the customer stays reachable in their bot chat
        log.warning("could not send in a business chat: %s", type(error).__name__)
        return None


class TextFiler:
    """The fast lane's group commit: the runs of texts that chats bring while one commit is under way wait for
    the next, and go together, in one transaction that also marks their updates handled."""

    def __init__(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        self.app = app
        self._waiting: list[tuple[TextRun, Sequence[int], asyncio.Future[FiledRun | None]]] = []
        self._committing = False

    async def file(self, run: TextRun, update_ids: Sequence[int]) -> FiledRun | None:
        """Store `run` in the customer's ticket (a new one when it opens one) and mark `update_ids` handled; None
        when theirs is another case (nothing is stored then). The first caller commits for everyone until nobody
        is waiting."""
        future: asyncio.Future[FiledRun | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((run, update_ids, future))
        if not self._committing:
            self._committing = True
            try:
                while self._waiting:
                    batch, self._waiting = self._waiting, []
                    await self._commit(batch)
            finally:
                self._committing = False
                left, self._waiting = self._waiting, []  # only when cancelled: the handlers take them
                for _, _, waiting in left:
                    waiting.set_result(None)
        return await future

    async def _commit(self, batch: list[tuple[TextRun, Sequence[int], asyncio.Future[FiledRun | None]]]) -> None:
        services: Services = self.app.bot_data["services"]
        settings = services.settings

        async def work(tx: Tx) -> dict[int, FiledRun]:
            filed = await file_texts(
                tx,
                runs=[run for run, _, _ in batch],
                reopen_days=settings.reopen_days,
                auto_assign=settings.routing_policy.auto_assign,
            )
            handled = [i for run, ids, _ in batch if run.telegram_id in filed for i in ids]
            await inbox.mark_many_processed(tx, update_ids=handled)
            return filed

        try:
            filed = await raw_database(services.engine).run(work)
        except Exception as exc:  # each chat's handlers take its updates
            for _, _, future in batch:
                future.set_exception(exc)
            return
        except asyncio.CancelledError:  # the same, and a text that did get stored is found there, not doubled
            for _, _, future in batch:
                future.set_result(None)
            raise
        for run, _, future in batch:
            future.set_result(filed.get(run.telegram_id))
        if filed:
            relay_of(self.app).wake()


def text_filer(app: Application[Any, Any, Any, Any, Any, Any]) -> TextFiler:
    found = app.bot_data.get(FILER_KEY)
    if found is None:
        found = app.bot_data[FILER_KEY] = TextFiler(app)
    assert isinstance(found, TextFiler)
    return found
