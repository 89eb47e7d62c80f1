"""The bot's own membership: added to a group (setting up the staff chat), and customers blocking the bot.

Added to a group by an admin, the bot answers there with the group's id and the `.env` line that makes it the
staff chat. Groups other than the staff chat that a non-admin added it to are left. A customer who blocks the
bot is marked unreachable (and staff are told if a ticket of theirs is active); unblocking undoes it.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import ChatMember, ChatMemberUpdated, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ChatMemberHandler

from bot.auth import staff_role
from bot.context import CarebotApp, Context
from bot.tickets.relay import relay_of
from bot.tickets.routing import inbox_gone
from bot.tickets.views import staff_language
from bot.ui.i18n import t
from storage import customers, staff_deliveries, tickets
from storage.db import transaction
from storage.models import Role
from storage.tickets import ACTIVE

log = logging.getLogger(__name__)
PRESENT = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)


def _joined(change: ChatMemberUpdated) -> bool:
    return change.new_chat_member.status in PRESENT and change.old_chat_member.status not in PRESENT


async def on_my_membership(update: Update, context: Context) -> None:
    change = update.my_chat_member
    if change is None:
        return
    if change.chat.type == ChatType.PRIVATE:
        if change.new_chat_member.status == ChatMember.BANNED and await staff_role(update, context) is not None:
            await inbox_gone(context.application, change.chat.id)  # an agent's inbox closes, their tickets move
        await _customer_blocked_or_back(update, context, change)
    elif _joined(change):
        await _added_to_group(update, context, change)


async def _added_to_group(update: Update, context: Context, change: ChatMemberUpdated) -> None:
    settings = context.services.settings
    lang = staff_language(settings)
    chat_id = change.chat.id
    if chat_id == settings.staff_chat_id:
        await context.bot.send_message(chat_id, t(lang, "tickets.setup.staff_chat"), parse_mode=ParseMode.HTML)
        return
    admin = not settings.admin_ids or await staff_role(update, context) == Role.ADMIN
    if not admin:
        log.info("added to group %s by someone who is not an admin; leaving", chat_id)
        with contextlib.suppress(TelegramError):
            await context.bot.leave_chat(chat_id)
        return
    await context.bot.send_message(chat_id, t(lang, "tickets.setup.added", chat_id=chat_id), parse_mode=ParseMode.HTML)


async def _customer_blocked_or_back(update: Update, context: Context, change: ChatMemberUpdated) -> None:
    blocked = change.new_chat_member.status == ChatMember.BANNED
    telegram_id = change.chat.id
    async with transaction(context.services.sessions) as session:
        customer = await customers.get_customer(session, telegram_id=telegram_id)
        if customer is None or customer.id is None:
            return
        await tickets.set_reachable(session, telegram_id=telegram_id, reachable=not blocked)
        ticket = await tickets.latest_ticket(session, customer_id=customer.id)
        if blocked and ticket is not None and ticket.status in ACTIVE and ticket.id is not None:
            await staff_deliveries.enqueue_for_ticket(
                session,
                ticket=ticket,
                key=f"notice:blocked:{ticket.id}:{update.update_id}",
                kind="notice",
                params={"template": "tickets.staff.undeliverable"},
            )
            await staff_deliveries.enqueue_for_ticket(
                session, ticket=ticket, key=f"card:blocked:{ticket.id}:{update.update_id}", kind="card"
            )
    relay_of(context.application).wake()


def register(app: CarebotApp) -> None:
    app.add_handler(ChatMemberHandler(on_my_membership, ChatMemberHandler.MY_CHAT_MEMBER))
