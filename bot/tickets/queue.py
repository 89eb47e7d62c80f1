"""`/queue`: the tickets waiting for staff, VIP first, then the longest waiting, with first-response targets; in an
agent's private chat (their inbox) their own tickets first, then the unassigned ones."""

from __future__ import annotations

from datetime import datetime

from telegram import Update
from telegram.constants import ChatType, ParseMode

from bot.auth import staff_only
from bot.caller import language_of
from bot.context import Context
from bot.tickets.views import category_label, customer_link, duration, is_vip, sla_state
from bot.ui.i18n import Safe, t
from bot.ui.splitting import split_text
from storage import tickets
from storage.models import Customer, Role, Ticket, TicketStatus
from storage.types import utcnow


@staff_only(Role.AGENT)
async def queue_command(update: Update, context: Context) -> None:
    """Tickets waiting for staff: VIP first, then the longest waiting, with age and first-response target. In a
    private chat (an agent's inbox): the asker's own tickets first, then the unassigned ones."""
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    lang, now = await language_of(update, context), utcnow()
    async with context.services.sessions() as session:
        waiting = await tickets.queue(session)
        pending_count = await tickets.count_by_status(session, status=TicketStatus.PENDING.value)
    if message.chat.type == ChatType.PRIVATE:
        mine = [row for row in waiting if row[0].assignee_telegram_id == user.id]
        unassigned = [row for row in waiting if row[0].assignee_telegram_id is None]
        lines = [t(lang, "tickets.queue.mine", count=len(mine))] + [
            _queue_item(context, row, now, lang) for row in mine
        ]
        lines += [t(lang, "tickets.queue.unassigned", count=len(unassigned))]
        lines += [_queue_item(context, row, now, lang) for row in unassigned]
    else:
        lines = [t(lang, "tickets.queue.title", count=len(waiting)) if waiting else t(lang, "tickets.queue.empty")]
        lines += [_queue_item(context, row, now, lang) for row in waiting]
    if pending_count:
        lines.append(t(lang, "tickets.queue.pending", count=pending_count))
    for part in split_text("\n".join(lines)):
        await message.reply_text(part, parse_mode=ParseMode.HTML)


def _queue_item(context: Context, row: tuple[Ticket, Customer], now: datetime, lang: str) -> str:
    ticket, customer = row
    settings = context.services.settings
    waited = duration(now - (ticket.waiting_since or ticket.opened_at), lang)
    age = duration(now - ticket.opened_at, lang)  # said only when it differs from the waiting time
    return t(
        lang,
        "tickets.queue.item",
        vip=t(lang, "tickets.card.vip") + " " if is_vip(customer) else "",
        number=ticket.id,
        name=customer_link(customer),
        category=category_label(ticket.category, lang),
        waiting=waited,
        age="" if age == waited else t(lang, "tickets.queue.age", age=age),
        sla=Safe(sla_state(ticket, customer, settings, lang, now)),
    )
