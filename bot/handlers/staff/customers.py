"""Staff work on customers: `/customer` cards (drawn in bot/handlers/staff/card.py), `/find` and `/note` (purchases:
bot/handlers/staff/purchases.py).

Every card view and change writes an audit row. Agents see phone numbers and emails masked; admins see them whole.
`/note` given as a reply is left to the tickets handler (an internal note inside a ticket): this one only takes
`/note <customer> <text>` sent as a message of its own.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.auth import staff_only
from bot.context import CarebotApp, Context
from bot.handlers.staff.card import mask_phone, segment_name, send_card
from bot.handlers.staff.common import (
    actor_id,
    answer,
    choices_markup,
    command_text,
    customer_label,
    customer_view,
    lines,
    resolve_customer,
    role_and_language,
    usage,
)
from bot.handlers.staff.records import MIN_SEARCH_LENGTH, find_customers, save_note
from bot.ui import callback_data
from bot.ui.i18n import t
from storage.models import Role
from storage.notes import MAX_NOTE_LENGTH

customer_command, card_button = customer_view("customer", callback_data.CUSTOMER_CARD, send_card)


@staff_only(Role.AGENT)
async def find_command(update: Update, context: Context) -> None:
    text = command_text(update)
    if len(text) < MIN_SEARCH_LENGTH:
        await usage(update, context, "find")
        return
    role, lang = await role_and_language(update, context)
    matches = await find_customers(context.services, query=text, actor_telegram_id=actor_id(update))
    if not matches:
        await answer(update, t(lang, "staff.find.none", query=text))
        return
    entries = []
    for number, match in enumerate(matches, 1):
        customer = match.customer
        phone = customer.phone if role == Role.ADMIN or not customer.phone else mask_phone(customer.phone)
        detail = " · ".join(part for part in (phone, segment_name(lang, customer.segment)) if part)
        entries.append(t(lang, "staff.find.entry", number=number, name=customer_label(customer), detail=detail))
    await answer(
        update,
        lines(t(lang, "staff.find.title", query=text, count=len(matches)), *entries),
        choices_markup([match.customer for match in matches]),
    )


@staff_only(Role.AGENT)
async def note_command(update: Update, context: Context) -> None:
    parts = command_text(update).split(maxsplit=1)
    if len(parts) != 2:
        await usage(update, context, "note")
        return
    _, lang = await role_and_language(update, context)
    if len(parts[1]) > MAX_NOTE_LENGTH:
        await answer(update, t(lang, "staff.note.too_long", limit=MAX_NOTE_LENGTH))
        return
    customer = await resolve_customer(update, context, parts[0])
    if customer is None:
        return
    assert customer.id is not None
    await save_note(context.services, customer_id=customer.id, actor_telegram_id=actor_id(update), text=parts[1])
    await answer(update, t(lang, "staff.note.saved", name=customer.display_name))


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("customer", customer_command))
    app.add_handler(CommandHandler("find", find_command))
    # A `/note` that replies to a message belongs to the tickets handler (a note inside a ticket).
    app.add_handler(CommandHandler("note", note_command, filters=~filters.REPLY))
    app.add_handler(CallbackQueryHandler(card_button, pattern=callback_data.CUSTOMER_CARD))
