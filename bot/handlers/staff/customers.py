"""Staff work on customers: `/customer` cards, `/find` and `/note` (purchases: bot/handlers/staff/purchases.py).

Every card view and change writes an audit row. Agents see phone numbers and emails masked; admins see them whole.
`/note` given as a reply is left to the tickets handler (an internal note inside a ticket): this one only takes
`/note <customer> <text>` sent as a message of its own.
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.auth import staff_only
from bot.context import CarebotApp, Context
from bot.handlers.staff.common import (
    actor_id,
    answer,
    choices_markup,
    command_text,
    customer_by_id,
    customer_label,
    lines,
    local_day,
    resolve_customer,
    role_and_language,
    usage,
)
from bot.tickets.views import status_label
from bot.ui import callback_data
from bot.ui.i18n import money, t
from bot.ui.keyboards import LANGUAGE_NAMES, button
from storage import search
from storage.customer_card import CustomerCard, customer_card
from storage.db import transaction
from storage.models import Customer, Role
from storage.notes import MAX_NOTE_LENGTH, add_note
from storage.staff import audit


def mask_phone(phone: str) -> str:
    """`138****5678`: the first three and last four digits stay, a country code too."""
    plus = phone.startswith("+")
    digits = re.sub(r"\D", "", phone)
    prefix = ""
    if plus and digits.startswith("86") and len(digits) == 13:
        prefix, digits = "+86 ", digits[2:]
    elif plus:
        prefix = "+"
    if len(digits) <= 7:
        return prefix + "*" * (len(digits) - 2) + digits[-2:]
    return prefix + digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def segment_name(lang: str, segment: str) -> str:
    return t(lang, f"staff.segment.{segment}")


def card_text(card: CustomerCard, *, role: Role, lang: str, context: Context) -> str:
    customer = card.customer
    currency = context.services.settings.currency
    admin = role == Role.ADMIN
    contact = [
        (customer.phone if admin else mask_phone(customer.phone)) if customer.phone else None,
        (customer.email if admin else mask_email(customer.email)) if customer.email else None,
    ]
    shown_contact = " · ".join(item for item in contact if item) or t(lang, "staff.card.none")
    last = card.last_purchase
    last_text = (
        t(
            lang,
            "staff.card.last_purchase",
            amount=money(last.amount, last.currency, lang),
            day=local_day(last.occurred_at, context, lang),
            reference=last.reference,
        )
        if last
        else t(lang, "staff.card.no_purchase")
    )
    open_tickets = ", ".join(f"#{ticket.id}" for ticket in card.open_tickets) or t(lang, "staff.card.none")
    recent = ", ".join(f"#{ticket.id} {status_label(ticket.status, lang)}" for ticket in card.recent_tickets) or t(
        lang, "staff.card.none"
    )
    score = card.last_satisfaction
    satisfaction = (
        t(lang, "staff.card.satisfaction", score=score.score, day=local_day(score.created_at, context, lang))
        if score
        else t(lang, "staff.card.none")
    )
    notes = [
        t(lang, "staff.card.note", day=local_day(note.created_at, context, lang), text=note.text[:300])
        for note in card.notes
    ]
    return lines(
        t(lang, "staff.card.title", name=customer.display_name, telegram_id=customer.telegram_id),
        t(lang, "staff.card.username", username=customer.username) if customer.username else None,
        t(lang, "staff.card.contact", contact=shown_contact),
        t(
            lang,
            "staff.card.language",
            language=LANGUAGE_NAMES.get(customer.language, customer.language),
            timezone=customer.timezone or context.services.settings.timezone,
        ),
        t(
            lang,
            "staff.card.segment",
            segment=segment_name(lang, customer.segment),
            since=local_day(customer.segment_since, context, lang),
        ),
        t(
            lang,
            "staff.card.lifetime",
            total=money(customer.total_spent, currency, lang),
            count=customer.purchase_count,
        ),
        last_text,
        t(lang, "staff.card.open_tickets", tickets=open_tickets),
        t(lang, "staff.card.recent_tickets", tickets=recent),
        t(lang, "staff.card.last_satisfaction", value=satisfaction),
        t(lang, "staff.card.notes_title") if notes else t(lang, "staff.card.no_notes"),
        *notes,
    )


def card_markup(customer: Customer, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[button(t(lang, "staff.card.button_purchases"), f"staff:purchases:{customer.id}")]])


async def send_card(update: Update, context: Context, customer: Customer) -> None:
    role, lang = await role_and_language(update, context)
    assert customer.id is not None
    async with transaction(context.services.sessions) as session:
        card = await customer_card(session, customer=customer)
        await audit(session, actor_telegram_id=actor_id(update), action="customer.view", customer_id=customer.id)
    await answer(update, card_text(card, role=role, lang=lang, context=context), card_markup(customer, lang))


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
