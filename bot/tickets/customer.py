"""The customer's side of tickets: the menu topics, every message kind, edits, `/tickets` and closing their own.

A message is stored in the customer's ticket before anything is sent anywhere; the staff chat is fed by the
relay in the background, so the customer's acknowledgement never waits for the staff chat.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.caller import initial_language, touch, touch_in
from bot.context import CarebotApp, Context
from bot.handlers import pending
from bot.handlers.customer import CUSTOMER_CHAT
from bot.handlers.customer.faq import faq_answer, send_faq_answer
from bot.runtime import metrics
from bot.runtime.dispatch import marking_handled, set_fast_lane
from bot.runtime.scheduling import survey_follows
from bot.runtime.throttle import auto_replies
from bot.tickets.desk import on_staff_edit
from bot.tickets.filing import acknowledge, after_filing, category_of, incoming_of, text_filer, to_customer
from bot.tickets.relay import relay_of
from bot.tickets.views import customer_ticket_line
from bot.ui import callback_data
from bot.ui.i18n import t
from bot.ui.keyboards import button
from scheduler.jobs.csat import HOLD_AT_CLOSING, plan_at_closing
from storage import business, staff_deliveries, tickets
from storage import pending as pending_inputs
from storage.customer_texts import TextRun
from storage.db import transaction
from storage.models import Customer, FaqEntry, Ticket, TicketStatus
from storage.tickets import Filed
from storage.types import utcnow

log = logging.getLogger(__name__)
CUSTOMER_MESSAGE = CUSTOMER_CHAT & filters.UpdateType.MESSAGE & ~filters.COMMAND & ~filters.StatusUpdate.ALL
CUSTOMER_TEXT = CUSTOMER_MESSAGE & filters.TEXT


async def on_message(update: Update, context: Context) -> None:
    await take_message(update, context, category="other")


@pending.on_input("ticket")
async def on_topic_message(update: Update, context: Context, kind: str, _data: dict[str, Any]) -> None:
    """The first message after choosing a menu topic: that topic becomes the ticket's category."""
    await take_message(update, context, category=kind.split(":", 1)[1], ends_dialog=True)


async def take_message(update: Update, context: Context, *, category: str, ends_dialog: bool = False) -> None:
    """FAQ first, else the customer's ticket: the customer touched, the message stored (or the FAQ hit counted)
    and the update marked handled in one transaction; only then is anything sent.

    A customer's message in a business chat (bot/business/chats.py) comes here too: the FAQ answers it only with
    `CAREBOT_BUSINESS_REPLIES=faq+tickets`, and whatever is sent goes into that business chat."""
    message = update.effective_message
    assert message is not None
    incoming = incoming_of(message)
    settings = context.services.settings
    connection = message.business_connection_id or ""
    faq_first = not connection or settings.business_replies == "faq+tickets"
    answer: FaqEntry | None = None
    filed: Filed | None = None
    async with marking_handled(context.application, update) as session:
        if ends_dialog and update.effective_user is not None:
            await pending_inputs.clear_input(session, chat_id=message.chat_id, user_id=update.effective_user.id)
        customer, _ = await touch_in(session, update, context)
        if connection:
            await business.record_chat_activity(
                session, connection_id=connection, chat_id=message.chat_id, from_customer=True
            )
        stored = None
        if incoming is not None:  # a re-processed update finds its message stored: nothing is doubled
            stored = await tickets.find_customer_message(
                session,
                chat_id=incoming.chat_id,
                message_id=incoming.message_id,
                business_connection_id=connection,
            )
        if incoming is not None and stored is None:
            now = utcnow()
            current = await tickets.current_ticket(
                session, customer_id=customer.id or 0, reopen_days=settings.reopen_days, now=now
            )
            # FAQ first, also before reopening a resolved or closed ticket (**Talk to a person** still reopens it)
            settled = current is None or current.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
            if faq_first and settled and incoming.kind == "text" and incoming.text and not message.media_group_id:
                answer = await faq_answer(session, context, customer, incoming.text, chat_id=message.chat_id)
            if answer is None:
                filed = await tickets.file_in(
                    session,
                    ticket=current,
                    customer=customer,
                    incoming=incoming,
                    category=category_of(category),
                    now=now,
                    policy=settings.routing_policy,
                )
    if incoming is None:  # said once in a while, not after every poll or dice of a flood (not as the business)
        if not connection and auto_replies(context.application).allow(message.chat_id, "unsupported"):
            await message.reply_text(t(customer.language, "tickets.unsupported"), parse_mode=ParseMode.HTML)
    elif answer is not None:
        await send_faq_answer(context, message, answer, customer.language)
    elif filed is not None:
        await after_filing(context, customer, filed)


async def customer_texts(app: CarebotApp, updates: Sequence[Update]) -> int:
    """The dispatcher's fast lane for the common cases: a customer's next texts while their ticket is open, and
    the first texts of a customer with no ticket to join (a new ticket, acknowledged as the handlers would).

    What `take_message` does for each of them (customer touched, text stored and queued for staff), for all of
    them at once, together with other chats' (see `TextFiler`). Anything else — a question for the FAQ, a ticket
    to reopen or route to an agent, a reply a dialog waits for, media, commands — is left to the handlers (0 is
    returned).
    """
    run: list[Update] = []
    for update in updates:
        user = update.effective_user
        if (
            not CUSTOMER_TEXT.check_update(update)
            or user is None
            or (run and run[0].effective_user != user)
            or not only_tickets_take(app, update)
        ):
            break
        run.append(update)
    user = run[-1].effective_user if run else None
    if user is None:
        return 0
    services = app.bot_data["services"]
    texts = [incoming_of(update.message) for update in run if update.message is not None]
    filed = await text_filer(app).file(
        TextRun(
            user.id,
            user.first_name,
            user.last_name,
            user.username,
            [text for text in texts if text],
            language=initial_language(user, services.settings),
        ),
        [update.update_id for update in run],
    )
    if filed is None:
        return 0
    if filed.opened:
        metrics.count_ticket_opened()
        customer = Customer(
            id=filed.customer_id,
            telegram_id=user.id,
            language=filed.language,
            timezone=filed.timezone,
            segment=filed.segment,
        )
        ticket = Ticket(id=filed.ticket_id, customer_id=filed.customer_id)
        try:
            await acknowledge(app.context_types.context.from_update(run[0], app), customer, ticket, reopened=False)
        except TelegramError as error:  # stored and handled all the same: only the ticket's number is not told
            log.warning("the acknowledgement of a new ticket was not sent (%s)", type(error).__name__)
    return len(run)


def only_tickets_take(app: CarebotApp, update: Update) -> bool:
    """No handler but the dialog router (whose waiting dialogs the fast lane leaves alone) and `on_message` would
    see this update: a handler for customer texts added later turns the fast lane off for what it takes.

    For a customer text (`CUSTOMER_TEXT`, never a command) only the other handlers need a look, and of those not
    the command handlers (`others_than_tickets`)."""
    return not any(handler.check_update(update) not in (None, False) for handler in others_than_tickets(app))


OTHERS_KEY = "handlers_other_than_tickets"


def others_than_tickets(app: CarebotApp) -> list[BaseHandler[Any, Any, Any]]:
    """The handlers that could take a customer text from the dialog router and `on_message`, worked out again
    whenever the handlers change."""
    handlers = [handler for group in app.handlers.values() for handler in group]
    key = tuple(map(id, handlers))
    cached: tuple[tuple[int, ...], list[BaseHandler[Any, Any, Any]]] | None = app.bot_data.get(OTHERS_KEY)
    if cached is None or cached[0] != key:
        others = [
            handler
            for handler in handlers
            if not isinstance(handler, CommandHandler)  # a command is not a CUSTOMER_TEXT
            and inspect.unwrap(handler.callback) not in (pending.route, on_message)  # (wrapped: reachability)
        ]
        cached = app.bot_data[OTHERS_KEY] = (key, others)
    return cached[1]


async def on_edit(update: Update, context: Context) -> None:
    """A customer edited a message of a ticket: staff see the new version, marked as edited."""
    message = update.edited_message
    if message is None:
        return
    if not await file_edit(context, message, fallback_key=str(update.update_id)):
        await on_staff_edit(update, context)  # perhaps an agent's reply in their inbox


async def file_edit(context: Context, message: Message, *, fallback_key: str) -> bool:
    """The customer edited a message of a ticket (in the bot chat or a business chat): staff see the new version.
    False when the message is no customer message of a ticket."""
    edit_key = str(int(message.edit_date.timestamp())) if message.edit_date else fallback_key
    async with transaction(context.services.sessions) as session:
        stored = await tickets.record_customer_edit(
            session,
            chat_id=message.chat_id,
            message_id=message.message_id,
            text=message.text if message.text is not None else message.caption,
            edit_key=edit_key,
            business_connection_id=message.business_connection_id or "",
        )
    if stored is None:
        return False
    relay_of(context.application).wake()
    return True


async def choose_topic(update: Update, context: Context) -> None:
    """Menu: Pre-sale question / Order support / After-sale service -> the next message opens that kind of ticket."""
    query = update.callback_query
    assert query is not None and query.data is not None
    topic = callback_data.MENU_TOPIC.read(query.data).word("topic")
    await query.answer()
    customer, _ = await touch(update, context)
    lang = customer.language
    async with context.services.sessions() as session:
        current = await tickets.current_ticket(
            session, customer_id=customer.id or 0, reopen_days=context.services.settings.reopen_days, now=utcnow()
        )
    await pending.expect(update, context, f"ticket:{topic}")
    text: str = t(lang, f"tickets.topic.{topic}")
    if current is not None:
        text += "\n" + t(lang, "tickets.topic.joins", number=current.id)
    await context.bot.send_message(customer.telegram_id, text, parse_mode=ParseMode.HTML)


async def show_tickets(update: Update, context: Context) -> None:
    """`/tickets` and the menu's **My tickets**: the customer's tickets, with a button to close an open one."""
    if update.callback_query is not None:
        await update.callback_query.answer()
    customer, _ = await touch(update, context)
    lang = customer.language
    async with context.services.sessions() as session:
        mine = await tickets.customer_tickets(session, customer_id=customer.id or 0)
    if not mine:
        await context.bot.send_message(customer.telegram_id, t(lang, "tickets.list.empty"), parse_mode=ParseMode.HTML)
        return
    lines = [t(lang, "tickets.list.title")] + [customer_ticket_line(ticket, lang) for ticket in mine]
    closable = [ticket for ticket in mine if ticket.status != TicketStatus.CLOSED.value]
    markup = InlineKeyboardMarkup(
        [
            [button(t(lang, "tickets.button.close_own", number=ticket.id), f"tickets:close:{ticket.id}")]
            for ticket in closable
        ]
    )
    await context.bot.send_message(
        customer.telegram_id, "\n".join(lines), parse_mode=ParseMode.HTML, reply_markup=markup if closable else None
    )


async def close_own(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    customer, _ = await touch(update, context)
    lang = customer.language
    number = callback_data.CLOSE_OWN_TICKET.read(query.data).number("ticket")
    async with transaction(context.services.sessions) as session:
        ticket = await tickets.get_ticket(session, ticket_id=number)
        if ticket is None or ticket.customer_id != customer.id:  # never trust callback data
            ticket = None
        elif tickets.close(ticket):
            session.add(ticket)
            await staff_deliveries.enqueue_for_ticket(
                session,
                ticket=ticket,
                key=f"notice:closed_by_customer:{ticket.id}:{update.update_id}",
                kind="notice",
                params={"template": "tickets.staff.closed_by_customer"},
            )
            await staff_deliveries.enqueue_for_ticket(
                session, ticket=ticket, key=f"card:closed:{ticket.id}:{update.update_id}", kind="card"
            )
            await plan_at_closing(session, ticket_ids=[ticket.id or 0], now=utcnow(), hold=HOLD_AT_CLOSING)
    if ticket is None:
        await query.answer(t(lang, "tickets.not_yours"), show_alert=True)
        return
    relay_of(context.application).wake()
    await query.answer()
    await to_customer(
        context,
        customer.telegram_id,
        lambda **chat: context.bot.send_message(
            text=t(lang, "tickets.closed_by_you", number=ticket.id), parse_mode=ParseMode.HTML, **chat
        ),
    )
    await survey_follows(context.application, context.services, ticket.id or 0)


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("tickets", show_tickets, filters=CUSTOMER_CHAT))
    app.add_handler(CallbackQueryHandler(show_tickets, pattern=callback_data.MENU_TICKETS))
    app.add_handler(CallbackQueryHandler(choose_topic, pattern=callback_data.MENU_TOPIC))
    app.add_handler(CallbackQueryHandler(close_own, pattern=callback_data.CLOSE_OWN_TICKET))
    app.add_handler(MessageHandler(CUSTOMER_CHAT & filters.UpdateType.EDITED_MESSAGE, on_edit))
    app.add_handler(MessageHandler(CUSTOMER_MESSAGE, on_message))
    set_fast_lane(app, customer_texts)
