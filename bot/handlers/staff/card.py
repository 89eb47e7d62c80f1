"""The customer card (`/customer`): who the customer is, their agreement, segment and its last changes, purchases,
tickets, last survey answers and notes. Agents see phone numbers and emails masked; admins see them whole. Every
view writes an audit row.
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardMarkup, Update

from bot.context import Context
from bot.handlers.staff.common import actor_id, answer, lines, local_day, role_and_language
from bot.handlers.staff.records import open_card
from bot.settings import Settings
from bot.tickets.views import status_label
from bot.ui.agreement_view import agreement_lines
from bot.ui.i18n import money, t
from bot.ui.keyboards import button
from storage.customer_card import CustomerCard
from storage.models import Customer, Role, SegmentChange


def zone_shown(customer: Customer, settings: Settings, lang: str) -> str:
    """The time zone the customer's messages are timed in; "(default)" when it is the business's, not theirs."""
    zone = str(settings.zone_of(customer.timezone))
    return zone if customer.timezone == zone else t(lang, "staff.card.timezone_default", timezone=zone)


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
    nps = card.last_nps
    notes = [
        t(lang, "staff.card.note", day=local_day(note.created_at, context, lang), text=note.text[:300])
        for note in card.notes
    ]
    return lines(
        t(lang, "staff.card.title", name=customer.display_name, telegram_id=customer.telegram_id),
        t(lang, "staff.card.username", username=customer.username) if customer.username else None,
        t(lang, "staff.card.contact", contact=shown_contact),
        *agreement_lines(lang, card.agreement, zone=context.services.settings.zone),
        t(
            lang,
            "staff.card.language",
            language=t(lang, f"language.name.{customer.language}"),
            timezone=zone_shown(customer, context.services.settings, lang),
        ),
        t(
            lang,
            "staff.card.segment",
            segment=segment_name(lang, customer.segment),
            since=local_day(customer.segment_since, context, lang),
        ),
        *segment_change_lines(card.segment_changes, lang=lang, context=context),
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
        t(lang, "staff.card.last_nps", score=nps.score, day=local_day(nps.created_at, context, lang)) if nps else None,
        t(lang, "staff.card.notes_title") if notes else t(lang, "staff.card.no_notes"),
        *notes,
    )


def segment_change_lines(changes: list[SegmentChange], *, lang: str, context: Context) -> list[str]:
    """The last segment changes, newest first, each with its reason (a purchase, a refund, an import)."""
    if not changes:
        return []
    shown: list[str] = [t(lang, "staff.card.segment_changes")]
    for change in changes:
        key = f"staff.card.reason.{change.reason}"
        reason = t(lang, key)  # a reason without a text of its own is shown as it is stored
        shown.append(
            t(
                lang,
                "staff.card.segment_change",
                day=local_day(change.changed_at, context, lang),
                before=segment_name(lang, change.from_segment),
                after=segment_name(lang, change.to_segment),
                reason=change.reason if reason == key else reason,
            )
        )
    return shown


def card_markup(customer: Customer, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[button(t(lang, "staff.card.button_purchases"), f"staff:purchases:{customer.id}")]])


async def send_card(update: Update, context: Context, customer: Customer) -> None:
    role, lang = await role_and_language(update, context)
    card = await open_card(context.services, customer=customer, actor_telegram_id=actor_id(update))
    await answer(update, card_text(card, role=role, lang=lang, context=context), card_markup(customer, lang))
