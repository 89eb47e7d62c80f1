"""An agent's inbox: their private chat with the bot, where the tickets assigned to them arrive (card first, then
every customer message). They answer there as in the group: a reply to the card or a copied message goes to the
customer (text or any media; edits follow), `//` and `/note` stay internal, `/resolve` and `/close` work as
replies. The card's **Assign** button hands the ticket to another agent.

Private replies of people who are not staff are a customer's (a customer replying to the bot's answer).
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.auth import staff_only, staff_role
from bot.caller import language_of
from bot.context import CarebotApp, Context
from bot.tickets import desk
from bot.tickets.customer import on_message as customer_message
from bot.tickets.routing import hand_over
from bot.ui import callback_data
from bot.ui.i18n import t
from bot.ui.keyboards import button
from storage import routing, ticket_places
from storage.models import Role

PRIVATE_REPLY = (
    filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & filters.REPLY & ~filters.COMMAND & ~filters.StatusUpdate.ALL
)


async def on_private_reply(update: Update, context: Context) -> None:
    """A staff member answering a ticket from their inbox, else a customer's message like any other."""
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    reply_to = message.reply_to_message
    ticket = None
    if reply_to is not None:
        async with context.services.sessions() as session:
            ticket = await ticket_places.ticket_in_staff_chat(
                session, chat_id=message.chat_id, thread_id=None, reply_to_message_id=reply_to.message_id
            )
    if await staff_role(update, context) is None:
        await customer_message(update, context)
        return
    if ticket is None:  # staff replying to something that is no ticket's: say how to answer one
        lang = await language_of(update, context)
        await message.reply_text(t(lang, "tickets.inbox.not_a_ticket"), parse_mode=ParseMode.HTML)
        return
    if message.text is not None and message.text.startswith("//"):
        await desk.save_note(context, ticket, message, user, message.text[2:].strip())
        return
    await desk.reply_to_customer(context, ticket, message, user)


@staff_only(Role.AGENT)
async def assign_button(update: Update, context: Context) -> None:
    """**Assign** on a card: the staff members with an inbox, one button each."""
    query = update.callback_query
    assert query is not None and query.data is not None
    number = callback_data.TICKET_ASSIGN.read(query.data).number("ticket")
    lang = await language_of(update, context)
    async with context.services.sessions() as session:
        agents = await routing.agents_with_inbox(session, admin_ids=context.services.settings.admin_ids)
    await query.answer()
    if not agents or not isinstance(query.message, Message):
        await context.bot.send_message(query.from_user.id, t(lang, "tickets.assign.nobody"), parse_mode=ParseMode.HTML)
        return
    markup = InlineKeyboardMarkup(
        [[button(agent.name or str(agent.telegram_id), f"tk:to:{number}:{agent.telegram_id}")] for agent in agents[:20]]
    )
    await query.message.reply_text(
        t(lang, "tickets.assign.choose", number=number), parse_mode="HTML", reply_markup=markup
    )


@staff_only(Role.AGENT)
async def assign_to_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    values = callback_data.TICKET_ASSIGN_TO.read(query.data)
    number, telegram_id = values.number("ticket"), values.number("staff")
    lang = await language_of(update, context)
    async with context.services.sessions() as session:
        agents = await routing.agents_with_inbox(session, admin_ids=context.services.settings.admin_ids)
    chosen = next((agent for agent in agents if agent.telegram_id == telegram_id), None)
    if chosen is None:  # never trust callback data: only current staff with an inbox
        await query.answer(t(lang, "tickets.assign.nobody"), show_alert=True)
        return
    ticket = await hand_over(context.application, number, chosen.telegram_id, chosen.name)
    if ticket is None:
        await query.answer(t(lang, "tickets.staff.no_such_ticket", number=number), show_alert=True)
        return
    await query.answer(t(lang, "tickets.assign.done", number=number, name=chosen.name or telegram_id)[:200])


def register(app: CarebotApp) -> None:
    app.add_handler(MessageHandler(PRIVATE_REPLY, on_private_reply))
    app.add_handler(CallbackQueryHandler(assign_button, pattern=callback_data.TICKET_ASSIGN))
    app.add_handler(CallbackQueryHandler(assign_to_button, pattern=callback_data.TICKET_ASSIGN_TO))
