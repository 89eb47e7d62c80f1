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
    customer_by_id,
    customer_label,
    lines,
    resolve_customer,
    role_and_language,
    usage,
)
from bot.ui import callback_data
from bot.ui.i18n import t
from storage import search
from storage.db import transaction
from storage.models import Role
from storage.notes import MAX_NOTE_LENGTH, add_note
from storage.staff import audit


@staff_only(Role.AGENT)
async def customer_command(update: Update, context: Context) -> None:
    query = command_text(update)
    if not query:
        await usage(update, context, "customer")
        return
    customer = await resolve_customer(update, context, query)
    if customer is not None:
        await send_card(update, context, customer)


@staff_only(Role.AGENT)
async def card_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    customer = await customer_by_id(context, callback_data.CUSTOMER_CARD.read(query.data).number("customer"))
    if customer is not None:
        await send_card(update, context, customer)


@staff_only(Role.AGENT)
async def find_command(update: Update, context: Context) -> None:
    text = command_text(update)
    if len(text) < 2:
        await usage(update, context, "find")
        return
    role, lang = await role_and_language(update, context)
    async with transaction(context.services.sessions) as session:
        matches = await search.fuzzy_find(session, query=text, limit=10)
        await audit(session, actor_telegram_id=actor_id(update), action="customer.search", detail=f"{len(matches)}")
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
    async with transaction(context.services.sessions) as session:
        await add_note(session, customer_id=customer.id, author_telegram_id=actor_id(update), text=parts[1])
        await audit(session, actor_telegram_id=actor_id(update), action="customer.note", customer_id=customer.id)
    await answer(update, t(lang, "staff.note.saved", name=customer.display_name))


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("customer", customer_command))
    app.add_handler(CommandHandler("find", find_command))
    # A `/note` that replies to a message belongs to the tickets handler (a note inside a ticket).
    app.add_handler(CommandHandler("note", note_command, filters=~filters.REPLY))
    app.add_handler(CallbackQueryHandler(card_button, pattern=callback_data.CUSTOMER_CARD))
