"""How tickets look: the staff card, the forum topic name, the card buttons, the customer's list, durations."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from telegram import InlineKeyboardMarkup

from bot.business.views import CardNotes
from bot.settings import Settings
from bot.ui.i18n import Safe, day, t
from bot.ui.keyboards import button
from storage.models import Customer, Ticket, TicketStatus
from storage.sla import first_response
from storage.types import utcnow

TOPIC_NAME_LIMIT = 128


def staff_language(settings: Settings) -> str:
    """What the staff group reads where no one in particular is answered (cards, notices): `CAREBOT_STAFF_LANGUAGE`.
    Answers to a staff member follow `bot.caller.language_of`, which gives the same in the group."""
    return settings.language_of_staff


def duration(delta: timedelta, lang: str) -> str:
    """Minutes under two hours, then hours, from two days on days. English says whole hours as hours ("within an
    hour", not "within 60 min"); Chinese keeps the minutes ("60 分钟内")."""
    minutes = max(round(delta.total_seconds() / 60), 0)
    if minutes < 120 and (minutes < 60 or minutes % 60 or lang != "en"):
        return t(lang, "tickets.duration.minutes", count=minutes)
    if minutes < 48 * 60:
        return t(lang, "tickets.duration.hours", count=round(minutes / 60))
    return t(lang, "tickets.duration.days", count=round(minutes / (24 * 60)))


def status_label(status: str, lang: str) -> str:
    return t(lang, f"tickets.status.{status}")


def category_label(category: str, lang: str) -> str:
    return t(lang, f"tickets.category.{category}")


def is_vip(customer: Customer) -> bool:
    return customer.segment == "vip"


def customer_link(customer: Customer) -> Safe:
    """The customer's name, escaped, linking to their Telegram profile."""
    name = html.escape(customer.display_name, quote=False)
    return Safe(f'<a href="tg://user?id={customer.telegram_id}">{name}</a>')


@dataclass(frozen=True)
class CardFacts:
    """What a card shows besides the ticket and its customer."""

    earlier: int = 0  # the customer's tickets before this one
    manager: str | None = None  # a VIP customer's account manager
    texts: tuple[str, ...] = ()  # the customer's texts an inbox card carries (sent with it: one message, not two)
    waiting_since: str | None = None  # when the customer started waiting for staff (local time), while they wait
    staff_role: str | None = None  # the customer is a staff member writing as a customer
    notes: CardNotes | None = None  # about a business chat (bot/business/views.py)


def card_text(
    ticket: Ticket,
    customer: Customer,
    *,
    earlier: int,
    lang: str,
    manager: str | None = None,
    texts: Sequence[str] = (),
    waiting_since: str | None = None,
    staff_role: str | None = None,
    notes: CardNotes | None = None,
) -> Safe:
    """The ticket's card; `staff_role` when the customer is a staff member writing as a customer, `notes` about
    a business chat (bot/business/views.py)."""
    assignee: str = (
        html.escape(ticket.assignee_name or str(ticket.assignee_telegram_id), quote=False)
        if ticket.assignee_telegram_id
        else "—"
    )
    lines = [
        t(lang, "tickets.card.title", number=ticket.id, name=customer_link(customer))
        + (" " + t(lang, "tickets.card.vip") if is_vip(customer) else ""),
        t(
            lang,
            "tickets.card.details",
            segment=t(lang, f"tickets.segment.{customer.segment}"),
            category=category_label(ticket.category, lang),
            status=status_label(ticket.status, lang),
            assignee=Safe(assignee),
            earlier=earlier,
            telegram_id=customer.telegram_id,
        ),
    ]
    if customer.username:
        lines.append(html.escape("@" + customer.username, quote=False))
    if manager:
        lines.append(t(lang, "tickets.card.manager", name=manager))
    if waiting_since and ticket.status == TicketStatus.OPEN.value:
        lines.append(t(lang, "tickets.card.waiting", since=waiting_since))
    if customer.unreachable and not (notes and notes.business_chat):
        lines.append(t(lang, "tickets.card.unreachable"))
    if staff_role is not None:
        lines.append(t(lang, "tickets.card.staff", role=t(lang, f"staff.role.{staff_role}")))
    lines.extend(notes.lines if notes else [])
    lines += ["\n" + html.escape(text, quote=False) for text in texts]
    return Safe("\n".join(lines))


def card_of(ticket: Ticket, customer: Customer, facts: CardFacts, lang: str) -> Safe:
    """The card as the relay shows it, in the group or an inbox, from what the pass read about the ticket."""
    return card_text(
        ticket,
        customer,
        earlier=facts.earlier,
        lang=lang,
        manager=facts.manager,
        texts=facts.texts,
        waiting_since=facts.waiting_since,
        staff_role=facts.staff_role,
        notes=facts.notes,
    )


def card_buttons(ticket: Ticket, lang: str) -> InlineKeyboardMarkup | None:
    if ticket.status == TicketStatus.CLOSED.value:
        return InlineKeyboardMarkup([[button(t(lang, "tickets.button.reopen"), f"tk:reopen:{ticket.id}")]])
    actions = ["take"] if not ticket.assignee_telegram_id else []
    if ticket.status != TicketStatus.RESOLVED.value:
        actions.append("resolve")
    actions += ["close", "assign"]
    return InlineKeyboardMarkup([[button(t(lang, f"tickets.button.{a}"), f"tk:{a}:{ticket.id}") for a in actions]])


def alert_buttons(ticket: Ticket, lang: str) -> InlineKeyboardMarkup:
    """An escalation's **Take** and **Reassign**."""
    return InlineKeyboardMarkup(
        [
            [
                button(t(lang, "tickets.button.take"), f"tk:take:{ticket.id}"),
                button(t(lang, "tickets.button.reassign"), f"tk:assign:{ticket.id}"),
            ]
        ]
    )


def topic_name(ticket: Ticket, customer: Customer, lang: str) -> str:
    """`#n · name · category`, cut to Telegram's 128 characters (plain text: topic names are not HTML)."""
    category = category_label(ticket.category, lang)
    name = customer.display_name
    text = f"#{ticket.id} · {name} · {category}"
    if len(text) > TOPIC_NAME_LIMIT:
        room = TOPIC_NAME_LIMIT - len(f"#{ticket.id} ·  · {category}") - 1
        text = f"#{ticket.id} · {name[: max(room, 1)]}… · {category}"
    return text[:TOPIC_NAME_LIMIT]


def sla_target(customer: Customer, settings: Settings) -> timedelta:
    """The customer's first-response target, in business minutes (storage/sla.py)."""
    return timedelta(minutes=settings.sla.first_response(customer.segment))


def sla_state(ticket: Ticket, customer: Customer, settings: Settings, lang: str, now: datetime | None = None) -> str:
    """Answered in / time left / late by, on the one response-time clock (business minutes, storage/sla.py)."""
    clock = first_response(
        ticket, segment=customer.segment, hours=settings.hours, targets=settings.sla, now=now or utcnow()
    )
    if clock.answered:
        return t(lang, "tickets.sla.answered", took=duration(timedelta(minutes=clock.waited), lang))
    if clock.late:
        return t(lang, "tickets.sla.breached", late=duration(timedelta(minutes=-clock.left), lang))
    return t(lang, "tickets.sla.ok", left=duration(timedelta(minutes=clock.left), lang))


def customer_ticket_line(ticket: Ticket, lang: str) -> str:
    return t(
        lang,
        "tickets.list.item",
        number=ticket.id,
        category=category_label(ticket.category, lang),
        status=status_label(ticket.status, lang),
        opened=day(ticket.opened_at, lang),
    )
