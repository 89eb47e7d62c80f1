"""Staff look into tickets: `/ticket <n>` shows a ticket's history, `/assign <ticket> <staff>` hands it over."""

from __future__ import annotations

import contextlib

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import CommandHandler

from bot.auth import staff_only
from bot.context import CarebotApp, Context
from bot.handlers.staff.common import actor_id, answer, lines, role_and_language, usage
from bot.tickets.relay import relay_of
from bot.tickets.views import status_label
from bot.ui.i18n import t, when
from bot.ui.numbers import record_number, telegram_id
from storage import routing, staff
from storage.db import transaction
from storage.models import Role, Ticket, TicketMessage
from storage.staff import audit, role_of
from storage.ticket_views import ticket_with_history


def _message_line(message: TicketMessage, lang: str, context: Context) -> str:
    moment = when(message.created_at.astimezone(context.services.settings.zone), lang)
    body = (message.text or "").strip()
    if message.kind != "text":
        body = f"[{message.kind}] {body}".strip()
    return t(lang, f"staff.ticket.{message.direction}", moment=moment, text=body[:500] or "—")


@staff_only(Role.AGENT)
async def ticket_command(update: Update, context: Context) -> None:
    args = context.args or []
    number = record_number(args[0]) if len(args) == 1 else None
    if number is None:
        await usage(update, context, "ticket")
        return
    _, lang = await role_and_language(update, context)
    async with transaction(context.services.sessions) as session:
        found = await ticket_with_history(session, ticket_id=number)
        if found is not None:
            await audit(
                session,
                actor_telegram_id=actor_id(update),
                action="ticket.view",
                customer_id=found[0].customer_id,
                detail=f"#{number}",
            )
    if found is None:
        await answer(update, t(lang, "staff.ticket.none", number=number))
        return
    ticket, customer, messages = found
    zone = context.services.settings.zone
    header = t(
        lang,
        "staff.ticket.title",
        number=number,
        status=status_label(ticket.status, lang),
        category=t(lang, f"staff.ticket_category.{ticket.category}"),
        name=customer.display_name if customer else "—",
        telegram_id=customer.telegram_id if customer else "—",
    )
    assignee = (
        t(lang, "staff.ticket.assignee", telegram_id=ticket.assignee_telegram_id)
        if ticket.assignee_telegram_id
        else t(lang, "staff.ticket.unassigned")
    )
    opened = t(lang, "staff.ticket.opened", moment=when(ticket.opened_at.astimezone(zone), lang))
    history = [_message_line(message, lang, context) for message in messages] or [t(lang, "staff.ticket.no_messages")]
    await answer(update, lines(header, assignee, opened, "", *history))


@staff_only(Role.AGENT)
async def assign_command(update: Update, context: Context) -> None:
    args = context.args or []
    number = record_number(args[0]) if len(args) == 2 else None
    if number is None:
        await usage(update, context, "assign")
        return
    _, lang = await role_and_language(update, context)
    who = args[1]
    typed_id = telegram_id(who)
    settings = context.services.settings
    async with transaction(context.services.sessions) as session:
        if who.lower() == "me":
            assignee: int | None = actor_id(update)
        elif typed_id is not None and await role_of(session, telegram_id=typed_id, admin_ids=settings.admin_ids):
            assignee = typed_id
        else:
            member = await staff.staff_member(session, username=who.lstrip("@"))
            assignee = member.telegram_id if member else None
        if assignee is None:
            await answer(update, t(lang, "staff.assign.not_staff", who=who))
            return
    ticket = await assign(context, number, assignee_telegram_id=assignee, actor_telegram_id=actor_id(update), lang=lang)
    if ticket is None:
        await answer(update, t(lang, "staff.ticket.none", number=number))
        return
    await answer(update, t(lang, "staff.assign.done", number=number, who=who))


async def assign(
    context: Context, ticket_id: int, *, assignee_telegram_id: int, actor_telegram_id: int, lang: str
) -> Ticket | None:
    """Hand a ticket to a staff member (checked to be staff by the caller), audited: their inbox, if they opened
    one, gets the card and the ticket so far, and they are told unless they assigned it to themselves. None when
    there is no such ticket."""
    async with transaction(context.services.sessions) as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return None
        await routing.assign(session, ticket=ticket, telegram_id=assignee_telegram_id, name=None, history=True)
        await audit(
            session,
            actor_telegram_id=actor_telegram_id,
            action="ticket.assign",
            customer_id=ticket.customer_id,
            detail=f"#{ticket_id} -> {assignee_telegram_id}",
        )
    relay_of(context.application).wake()
    if assignee_telegram_id != actor_telegram_id:
        # Best effort: they may never have opened a private chat with the bot.
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(
                assignee_telegram_id, t(lang, "staff.assign.notice", number=ticket_id), parse_mode="HTML"
            )
    return ticket


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("ticket", ticket_command))
    app.add_handler(CommandHandler("assign", assign_command))
