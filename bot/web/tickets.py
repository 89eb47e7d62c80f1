"""The desk's queue and ticket pages, and what staff do to a ticket there: reply, take, assign, resolve, close,
reopen, note. Each runs the same function as its chat command, card button or reply (bot/tickets/desk.py, replies.py, history.py),
which checks the ticket's state; the desk only checks that the caller is staff (bot/web/desk.py)."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from telegram.error import TelegramError

from bot.tickets.desk import ACTIONS, apply_action, signature
from bot.tickets.history import assign
from bot.tickets.replies import ReplyPart, keep_note, send_reply
from bot.tickets.views import category_label, duration, is_vip, sla_state, status_label
from bot.ui.i18n import Safe, t
from bot.web.desk import NO_STORE, Caller, Desk, form_of
from storage import tickets
from storage.db import transaction
from storage.models import Customer, StaffMember, Ticket, TicketCategory, TicketMessage, TicketStatus
from storage.sla import first_response
from storage.staff import audit, list_staff, role_of
from storage.ticket_views import ticket_with_history
from storage.types import utcnow

QUEUED = (TicketStatus.OPEN, TicketStatus.PENDING)
SOON = 0.25  # less than this share of the first-response target left: shown amber
MAX_REPLY = 4096
HISTORY = 200
IMAGE_KINDS = ("photo", "sticker")


@dataclass(frozen=True)
class QueueRow:
    ticket: Ticket
    customer: Customer
    vip: bool
    waiting: str
    clock: str  # ok, soon, late, answered: the colour of the waiting time
    sla: str


def clock_of(ticket: Ticket, customer: Customer, desk: Desk, now: datetime) -> str:
    """The waiting time's colour against the first-response target, on the one clock (storage/sla.py)."""
    settings = desk.services.settings
    clock = first_response(ticket, segment=customer.segment, hours=settings.hours, targets=settings.sla, now=now)
    if clock.answered:
        return "answered"
    if clock.late:
        return "late"
    return "soon" if clock.left < clock.target * SOON else "ok"


def _filtered(rows: list[tuple[Ticket, Customer]], request: Request, caller: Caller) -> list[tuple[Ticket, Customer]]:
    query = request.query_params
    status, category, who = query.get("status", ""), query.get("category", ""), query.get("who", "")
    kept = []
    for ticket, customer in rows:
        if status and ticket.status != status:
            continue
        if category and ticket.category != category:
            continue
        if who == "mine" and ticket.assignee_telegram_id != caller.user.id:
            continue
        if who == "unassigned" and ticket.assignee_telegram_id is not None:
            continue
        kept.append((ticket, customer))
    return kept


def member_name(member: StaffMember) -> str:
    return member.name or (f"@{member.username}" if member.username else str(member.telegram_id))


def assignee_of(team: list[StaffMember]) -> Callable[[Ticket], str | None]:
    """Who a ticket is assigned to, by their name on the staff list (the name stored by Take may be older)."""
    names = {member.telegram_id: member_name(member) for member in team if member.telegram_id is not None}

    def name(ticket: Ticket) -> str | None:
        if ticket.assignee_telegram_id is None:
            return None
        return names.get(ticket.assignee_telegram_id) or ticket.assignee_name or str(ticket.assignee_telegram_id)

    return name


async def queue_page(desk: Desk, request: Request, caller: Caller) -> Response:
    """Open and pending tickets: VIP first, then the longest waiting (the order of `/queue`)."""
    now, lang = utcnow(), caller.lang
    async with desk.services.sessions() as session:
        rows = await tickets.queue(session, statuses=QUEUED)
        team = await list_staff(session)
    shown = [
        QueueRow(
            ticket=ticket,
            customer=customer,
            vip=is_vip(customer),
            waiting=duration(now - (ticket.waiting_since or ticket.opened_at), lang),
            clock=clock_of(ticket, customer, desk, now),
            sla=sla_state(ticket, customer, desk.services.settings, lang, now),
        )
        for ticket, customer in _filtered(rows, request, caller)
    ]
    return desk.render(
        "queue.html",
        caller,
        rows=shown,
        total=len(rows),
        assignee=assignee_of(team),
        filters=request.query_params,
        statuses=[status.value for status in QUEUED],
        categories=[category.value for category in TicketCategory],
        status_label=lambda status: status_label(status, lang),
        category_label=lambda category: category_label(category, lang),
    )


async def ticket_page(desk: Desk, request: Request, caller: Caller, *, flash: str | None = None) -> Response:
    """The whole conversation (notes apart), the reply box and the lifecycle buttons; the look is audited."""
    number = int(request.path_params["number"])
    lang = caller.lang
    async with transaction(desk.services.sessions) as session:
        found = await ticket_with_history(session, ticket_id=number, limit=HISTORY)
        if found is not None:
            await audit(
                session,
                actor_telegram_id=caller.user.id,
                action="ticket.view",
                customer_id=found[0].customer_id,
                detail=f"#{number}",
            )
        team = await list_staff(session)
    if found is None:
        return desk.render("missing.html", caller, http_status=404, message=t(lang, "staff.ticket.none", number=number))
    ticket, customer, messages = found
    assert customer is not None
    now = utcnow()
    return desk.render(
        "ticket.html",
        caller,
        ticket=ticket,
        customer=customer,
        vip=is_vip(customer),
        conversation=[message for message in messages if message.direction != "note"],
        notes=[message for message in messages if message.direction == "note"],
        image_kinds=IMAGE_KINDS,
        actions=available_actions(ticket, caller),
        team=[(member.telegram_id, member_name(member)) for member in team if member.telegram_id is not None],
        admins=sorted(desk.services.settings.admin_ids - {member.telegram_id for member in team}),
        assignee=assignee_of(team),
        clock=clock_of(ticket, customer, desk, now),
        sla=sla_state(ticket, customer, desk.services.settings, lang, now),
        status=status_label(ticket.status, lang),
        category=category_label(ticket.category, lang),
        flash=flash,
        max_reply=MAX_REPLY,
    )


def available_actions(ticket: Ticket, caller: Caller) -> list[str]:
    """The lifecycle buttons this ticket's state offers (the server checks again when one is pressed)."""
    if ticket.status == TicketStatus.CLOSED:
        return ["reopen"]
    shown = [] if ticket.assignee_telegram_id == caller.user.id else ["take"]
    if ticket.status != TicketStatus.RESOLVED:
        shown.append("resolve")
    shown.append("close")
    if ticket.status == TicketStatus.RESOLVED:
        shown.append("reopen")
    return shown


async def ticket_action(desk: Desk, request: Request, caller: Caller) -> Response:
    """A form on the ticket page: the reply, a lifecycle button, or an assignment; then the page again."""
    number, action = int(request.path_params["number"]), request.path_params["action"]
    form = await form_of(request)
    context = desk.context()
    lang = caller.lang
    flash: str | None
    if action == "reply":
        flash = await _reply(desk, number, form.get("text", ""), caller)
    elif action == "note":
        flash = await _note(desk, number, form.get("text", ""), caller)
    elif action == "assign":
        flash = await _assign(desk, number, form.get("assignee", ""), caller)
    elif action in ACTIONS:
        flash, bounced = await apply_action(context, action, number, caller.telegram_user)
        if bounced is not None:
            flash = Safe(flash + "\n" + t(lang, "tickets.staff.undeliverable"))
    else:
        return Response("unknown action", status_code=404, headers=NO_STORE)
    return await ticket_page(desk, request, caller, flash=flash)


async def _reply(desk: Desk, number: int, text: str, caller: Caller) -> str:
    lang = caller.lang
    text = text.strip()
    if not text or len(text) > MAX_REPLY:
        return t(lang, "webapp.reply.length", limit=MAX_REPLY)
    context = desk.context()

    async def send(**chat: Any) -> list[int]:
        signed = text + signature(context, caller.telegram_user)  # the agent's name, if the business shows it
        return [(await context.bot.send_message(text=signed, **chat)).message_id]

    problem = await send_reply(
        context,
        number,
        [ReplyPart(kind="text", text=text)],
        send=send,
        author_telegram_id=caller.user.id,
        lang=lang,
        author_name=caller.user.full_name,
    )
    return problem or t(lang, "webapp.reply.sent", number=number)


async def _note(desk: Desk, number: int, text: str, caller: Caller) -> str:
    text = text.strip()
    if not text or len(text) > MAX_REPLY:
        return t(caller.lang, "webapp.reply.length", limit=MAX_REPLY)
    async with desk.services.sessions() as session:
        ticket = await tickets.get_ticket(session, ticket_id=number)
    if ticket is None:
        return t(caller.lang, "staff.ticket.none", number=number)
    await keep_note(desk.context(), ticket, author_telegram_id=caller.user.id, text=text)
    return t(caller.lang, "webapp.ticket.note_saved", number=number)


async def _assign(desk: Desk, number: int, assignee: str, caller: Caller) -> str:
    lang = caller.lang
    settings = desk.services.settings
    chosen = int(assignee) if assignee.lstrip("-").isdigit() else None
    async with desk.services.sessions() as session:
        staff = chosen is not None and await role_of(session, telegram_id=chosen, admin_ids=settings.admin_ids)
    if chosen is None or not staff:
        return t(lang, "staff.assign.not_staff", who=assignee)
    ticket = await assign(
        desk.context(), number, assignee_telegram_id=chosen, actor_telegram_id=caller.user.id, lang=lang
    )
    if ticket is None:
        return t(lang, "staff.ticket.none", number=number)
    return t(lang, "staff.assign.done", number=number, who=chosen)


async def message_file(desk: Desk, request: Request, caller: Caller) -> Response:
    """A ticket message's photo or file, fetched from Telegram by the server: the bot token never reaches the page."""
    async with desk.services.sessions() as session:
        message = await session.get(TicketMessage, int(request.path_params["message_id"]))
    if message is None or not message.file_id:
        return Response("no such file", status_code=404, headers=NO_STORE)
    try:
        file = await desk.app.bot.get_file(message.file_id)
        content = bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        return Response(f"not available ({type(exc).__name__})", status_code=502, headers=NO_STORE)
    name = (file.file_path or "file").rsplit("/", 1)[-1]
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{message.kind}-{message.id}{_suffix(name)}"'}
    return Response(content, media_type=media_type, headers=headers)


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    suffix = name[dot:] if dot > 0 else ""
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""
