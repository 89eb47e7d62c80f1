"""The bot added to a group: setting up the staff chat.

Added to a group by an admin, the bot answers there with the group's id and the `.env` line that makes it the
staff chat. Groups other than the staff chat that a non-admin added it to are left. (A customer blocking the bot,
the same update in a private chat, is bot/handlers/customer/reachability.py's.)
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
from bot.tickets.views import staff_language
from bot.ui.i18n import t
from storage.models import Role

log = logging.getLogger(__name__)
PRESENT = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)


def _joined(change: ChatMemberUpdated) -> bool:
    return change.new_chat_member.status in PRESENT and change.old_chat_member.status not in PRESENT


async def on_my_membership(update: Update, context: Context) -> None:
    change = update.my_chat_member
    if change is None or change.chat.type == ChatType.PRIVATE:
        return
    if _joined(change):
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


def register(app: CarebotApp) -> None:
    app.add_handler(ChatMemberHandler(on_my_membership, ChatMemberHandler.MY_CHAT_MEMBER))
