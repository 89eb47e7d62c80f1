"""The bot added to a group: setting up the staff chat.

Added to a group by an admin, the bot answers there with the group's id and the `.env` line that makes it the
staff chat (as `/help` does there). Groups other than the staff chat that a non-admin added it to are left.
Without a staff chat, start-up logs one warning and the first admin who writes to the bot is told how to set one.
(A customer blocking the bot, the same update in a private chat, is bot/handlers/customer/reachability.py's.)
"""

from __future__ import annotations

import contextlib
import logging

from telegram import ChatMember, ChatMemberUpdated, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ChatMemberHandler, MessageHandler, filters

from bot.auth import staff_role
from bot.caller import language_of
from bot.context import CarebotApp, Context
from bot.tickets.views import staff_language
from bot.ui.i18n import t
from storage.models import Role

log = logging.getLogger(__name__)
PRESENT = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)
NO_STAFF_CHAT = "no staff chat configured: tickets wait until one is set"
# A group of its own, before the others: telling the admin takes nothing away from what they wrote.
TELL_ADMIN_GROUP = -2
TELL_ADMIN_HANDLER = "tell_admin_handler"


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
    await context.bot.send_message(chat_id, setup_help(chat_id, lang), parse_mode=ParseMode.HTML)


def setup_help(chat_id: int, lang: str) -> str:
    """What a group that is not (yet) the staff chat is told: its id, the line for `.env`, the rights needed."""
    return t(lang, "tickets.setup.added", chat_id=chat_id) + "\n\n" + t(lang, "tickets.setup.rights")


async def tell_admin_no_staff_chat(update: Update, context: Context) -> None:
    """The first admin who writes to the bot in private learns how to set up the staff chat (once per run)."""
    handler = context.application.bot_data.pop(TELL_ADMIN_HANDLER, None)
    if handler is None:
        return
    context.application.remove_handler(handler, TELL_ADMIN_GROUP)
    message = update.effective_message
    if message is not None:
        lang = await language_of(update, context)
        await message.reply_text(t(lang, "tickets.setup.no_staff_chat"), parse_mode=ParseMode.HTML)


async def on_startup(app: CarebotApp) -> None:
    if app.bot_data["services"].settings.staff_chat_id is None:
        log.warning(NO_STAFF_CHAT)


def register(app: CarebotApp) -> None:
    app.add_handler(ChatMemberHandler(on_my_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    settings = app.bot_data["services"].settings
    if settings.staff_chat_id is None and settings.admin_ids:
        admins = filters.ChatType.PRIVATE & filters.User(user_id=settings.admin_ids) & filters.UpdateType.MESSAGE
        handler = MessageHandler(admins, tell_admin_no_staff_chat)
        app.bot_data[TELL_ADMIN_HANDLER] = handler
        app.add_handler(handler, TELL_ADMIN_GROUP)
