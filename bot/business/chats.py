"""Business chats: a customer's messages to the business account, the owner's own answers, edits and deletions.

These handlers run before all others and stop there (`ApplicationHandlerStop`): a business chat is a private chat,
but nothing meant for the bot chat (commands, dialogs, menus) applies in it. A customer's message takes the way
of every customer message (`bot.tickets.customer.take_message`: stored with the update's handled mark, FAQ, ticket,
acknowledgement), answered in the business chat through `to_customer`. Messages the owner types themselves are
recorded in the customer's ticket as staff replies: never relayed, and the ticket counts as answered.
"""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.ext import ApplicationHandlerStop, BusinessMessagesDeletedHandler, MessageHandler, filters

from bot.business.connections import BUSINESS_GROUP, state_of_connection
from bot.context import CarebotApp, Context
from bot.runtime.dispatch import marking_handled
from bot.tickets.customer import file_edit, take_message
from bot.tickets.filing import incoming_of
from bot.tickets.relay import refresh_cards
from storage import business, customers, ticket_places, tickets
from storage.models import ConnectionState, MessageDirection, TicketStatus
from storage.types import utcnow

log = logging.getLogger(__name__)
# A disabled connection's messages are those Telegram sent before it stopped: still filed, never answered there.
SERVED = (ConnectionState.ACTIVE, ConnectionState.READ_ONLY, ConnectionState.DISABLED)


async def on_business_message(update: Update, context: Context) -> None:
    await take_business_message(update, context)
    raise ApplicationHandlerStop  # (an error goes to the error handler before this: see bot.app.on_error)


async def take_business_message(update: Update, context: Context) -> None:
    message = update.business_message or update.edited_business_message
    assert message is not None and message.business_connection_id is not None
    if context.services.settings.business_replies == "off":
        return
    if message.sender_business_bot is not None or message.from_user is None or message.from_user.is_bot:
        return  # sent by a bot on the business's behalf (Carebot itself, too)
    state = await state_of_connection(context, message.business_connection_id)
    if state not in SERVED:
        return
    async with context.services.sessions() as session:
        connection = await business.get_connection(session, connection_id=message.business_connection_id)
    by_owner = connection is not None and message.from_user.id == connection.owner_telegram_id
    if update.edited_business_message is not None:
        if not by_owner:
            await customer_edit(context, message)
    elif by_owner:
        await owner_answer(update, context, message)
    else:
        await take_message(update, context, category="other")


async def owner_answer(update: Update, context: Context, message: Message) -> None:
    """The owner answered by hand: a staff reply in the customer's active ticket (nothing is sent anywhere)."""
    connection_id = message.business_connection_id or ""
    incoming = incoming_of(message)
    changed = None
    async with marking_handled(context.application, update) as session:
        await business.record_chat_activity(
            session, connection_id=connection_id, chat_id=message.chat_id, from_customer=False
        )
        customer = await customers.get_customer(session, telegram_id=message.chat_id)
        ticket = None
        if customer is not None and customer.id is not None:
            ticket = await tickets.latest_ticket(session, customer_id=customer.id)
        stored = await tickets.find_customer_message(
            session, chat_id=message.chat_id, message_id=message.message_id, business_connection_id=connection_id
        )
        if ticket is not None and ticket.status in (TicketStatus.OPEN, TicketStatus.PENDING) and stored is None:
            before = (ticket.status, ticket.first_response_at)
            await ticket_places.record_staff_message(
                session,
                ticket=ticket,
                direction=MessageDirection.OUT,
                kind=incoming.kind if incoming else "other",
                text=incoming.text if incoming else None,
                file_id=incoming.file_id if incoming else None,
                author_telegram_id=message.from_user.id if message.from_user else 0,
                staff_chat_id=None,
                staff_message_id=None,
                customer_chat_id=message.chat_id,
                customer_message_id=message.message_id,
                business_connection_id=connection_id,
            )
            changed = ticket.id if before != (ticket.status, ticket.first_response_at) else None
    if changed is not None:
        await refresh_cards(context.application, changed)


async def customer_edit(context: Context, message: Message) -> None:
    """The customer edited a message of a ticket: staff see the new version, as for the bot chat."""
    await file_edit(context, message, fallback_key=str(utcnow().timestamp()))


async def on_deleted(update: Update, context: Context) -> None:
    """The customer deleted messages: their stored text is erased, and the card counts them."""
    deleted = update.deleted_business_messages
    assert deleted is not None
    async with marking_handled(context.application, update) as session:
        marked = await business.mark_deleted(
            session,
            connection_id=deleted.business_connection_id,
            chat_id=deleted.chat.id,
            message_ids=list(deleted.message_ids),
        )
        await business.forget_pending_copies(session, message_ids=[m.id for m in marked if m.id is not None])
    for ticket_id in sorted({message.ticket_id for message in marked}):
        await refresh_cards(context.application, ticket_id)
    raise ApplicationHandlerStop


def register(app: CarebotApp) -> None:
    app.add_handler(MessageHandler(filters.UpdateType.BUSINESS_MESSAGES, on_business_message), group=BUSINESS_GROUP)
    app.add_handler(BusinessMessagesDeletedHandler(on_deleted), group=BUSINESS_GROUP)
