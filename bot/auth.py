"""Who may do what. Staff commands work in the staff chat and in a staff member's private chat with the bot;
anyone else gets "This command is for staff." and nothing more. Buttons are checked the same way: callback
data is never trusted on its own.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import Update
from telegram.constants import ChatType, ParseMode

from bot.caller import language_of
from bot.context import Context, Services
from bot.ui.i18n import t
from storage.db import transaction
from storage.models import Role
from storage.staff import bind_username, role_of

Handler = Callable[[Update, Context], Awaitable[None]]
H = TypeVar("H", bound=Handler)


async def staff_role(update: Update, context: Context) -> Role | None:
    """The role of the user behind this update, or None for customers and strangers."""
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    return await role_for(context.services, telegram_id=user.id, username=user.username)


async def role_for(services: Services, *, telegram_id: int, username: str | None) -> Role | None:
    """The staff role of this Telegram user (in chat or on the desk), or None for customers and strangers."""
    async with services.sessions() as session:
        role = await role_of(session, telegram_id=telegram_id, admin_ids=services.settings.admin_ids)
    if role is None and username:  # added by @username before we knew their id
        async with transaction(services.sessions) as session:
            role = await bind_username(session, telegram_id=telegram_id, username=username)
    return role


def in_staff_place(update: Update, context: Context) -> bool:
    chat = update.effective_chat
    if chat is None:
        return False
    return chat.type == ChatType.PRIVATE or chat.id == context.services.settings.staff_chat_id


def allowed(role: Role | None, needed: Role) -> bool:
    return role is not None and (role == Role.ADMIN or needed == Role.AGENT)


async def refuse(update: Update, context: Context) -> None:
    lang = await language_of(update, context)
    if update.callback_query is not None:
        await update.callback_query.answer(t(lang, "auth.staff_only"), show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(t(lang, "auth.staff_only"), parse_mode=ParseMode.HTML)


def staff_only(needed: Role = Role.AGENT) -> Callable[[H], H]:
    """Run the handler only for staff with at least the `needed` role, in the staff chat or a private chat."""

    def decorate(handler: H) -> H:
        @functools.wraps(handler)
        async def guarded(update: Update, context: Context) -> None:
            if not in_staff_place(update, context) or not allowed(await staff_role(update, context), needed):
                await refuse(update, context)
                return
            await handler(update, context)

        return guarded  # type: ignore[return-value]

    return decorate
