"""The customer's side of tickets: the menu topics, every message kind, edits, `/tickets` and closing their own.

A message is stored in the customer's ticket before anything is sent anywhere; the staff chat is fed by the
relay in the background, so the customer's acknowledgement never waits for the staff chat.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import pending
from bot.context import CarebotApp, Context
from bot.customers import touch
from bot.handlers.faq import answer_from_faq
from bot.i18n import t
from bot.keyboards import button
from bot.staff_chat import relay_of
from bot.throttle import auto_replies
from bot.ticket_views import customer_ticket_line
from bot.ticketing import file_message, incoming_of, to_customer
from storage import staff_deliveries, tickets
from storage.db import transaction
from storage.models import Customer, TicketStatus
from storage.types import utcnow

PRIVATE = filters.ChatType.PRIVATE
CUSTOMER_MESSAGE = PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND & ~filters.StatusUpdate.ALL


async def on_message(update: Update, context: Context) -> None:
    customer, _ = await touch(update, context)
    await take_message(update, context, customer, category="other")


@pending.on_input("ticket")
async def on_topic_message(update: Update, context: Context, kind: str, _data: dict[str, Any]) -> None:
    """The first message after choosing a menu topic: that topic becomes the ticket's category."""
    await pending.done(update, context)
    customer, _ = await touch(update, context)
    await take_message(update, context, customer, category=kind.split(":", 1)[1])


async def take_message(update: Update, context: Context, customer: Customer, *, category: str) -> None:
    message = update.effective_message
    assert message is not None
    incoming = incoming_of(message)
    if incoming is None:  # said once in a while, not after every poll or dice of a flood
        if auto_replies(context.application).allow(message.chat_id, "unsupported"):
            await message.reply_text(t(customer.language, "tickets.unsupported"), parse_mode=ParseMode.HTML)
        return
    if incoming.kind == "text" and incoming.text and not message.media_group_id:
        async with context.services.sessions() as session:
            current = await tickets.current_ticket(
                session, customer_id=customer.id or 0, reopen_days=context.services.settings.reopen_days, now=utcnow()
            )
            stored = await tickets.find_customer_message(
                session, chat_id=incoming.chat_id, message_id=incoming.message_id
            )
        if current is None and stored is None and await answer_from_faq(update, context, customer, incoming.text):
            return
    await file_message(context, customer, incoming, category=category)


async def on_edit(update: Update, context: Context) -> None:
    """A customer edited a message of a ticket: staff see the new version, marked as edited."""
    message = update.edited_message
    if message is None:
        return
    edit_key = str(int(message.edit_date.timestamp())) if message.edit_date else str(update.update_id)
    async with transaction(context.services.sessions) as session:
        stored = await tickets.record_customer_edit(
            session,
            chat_id=message.chat_id,
            message_id=message.message_id,
            text=message.text if message.text is not None else message.caption,
            edit_key=edit_key,
        )
    if stored is not None:
        relay_of(context.application).wake()


async def choose_topic(update: Update, context: Context) -> None:
    """Menu: Pre-sale question / Order support / After-sale service -> the next message opens that kind of ticket."""
    query = update.callback_query
    assert query is not None and query.data is not None
    topic = query.data.split(":", 1)[1]
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
    number = query.data.rsplit(":", 1)[-1]
    async with transaction(context.services.sessions) as session:
        ticket = await tickets.get_ticket(session, ticket_id=int(number)) if number.isdigit() else None
        if ticket is None or ticket.customer_id != customer.id:  # never trust callback data
            ticket = None
        elif tickets.close(ticket):
            session.add(ticket)
            await staff_deliveries.enqueue(
                session,
                key=f"notice:closed_by_customer:{ticket.id}:{update.update_id}",
                ticket_id=ticket.id or 0,
                kind="notice",
                params={"template": "tickets.staff.closed_by_customer"},
            )
            await staff_deliveries.enqueue(
                session, key=f"card:closed:{ticket.id}:{update.update_id}", ticket_id=ticket.id or 0, kind="card"
            )
    if ticket is None:
        await query.answer(t(lang, "tickets.not_yours"), show_alert=True)
        return
    relay_of(context.application).wake()
    await query.answer()
    await to_customer(
        context,
        customer.telegram_id,
        lambda: context.bot.send_message(
            customer.telegram_id, t(lang, "tickets.closed_by_you", number=ticket.id), parse_mode=ParseMode.HTML
        ),
    )


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("tickets", show_tickets, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(show_tickets, pattern=r"^menu:tickets$"))
    app.add_handler(CallbackQueryHandler(choose_topic, pattern=r"^menu:(presale|order|aftersale)$"))
    app.add_handler(CallbackQueryHandler(close_own, pattern=r"^tickets:close:\d+$"))
    app.add_handler(MessageHandler(PRIVATE & filters.UpdateType.EDITED_MESSAGE, on_edit))
    app.add_handler(MessageHandler(CUSTOMER_MESSAGE, on_message))
