"""Turning a Telegram user into a stored customer, once per update, in one place."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update, User
from telegram.constants import ChatType

from bot.context import Context
from bot.settings import Settings
from storage import customers
from storage.db import transaction
from storage.languages import language_from_telegram
from storage.models import Customer


async def touch(update: Update, context: Context) -> tuple[Customer, bool]:
    """The customer behind this update, created on first contact; returns (customer, created)."""
    async with transaction(context.services.sessions) as session:
        return await touch_in(session, update, context)


async def touch_in(session: AsyncSession, update: Update, context: Context) -> tuple[Customer, bool]:
    """`touch` as part of the caller's transaction."""
    user = update.effective_user
    assert user is not None
    return await customers.touch_customer(
        session,
        telegram_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language=initial_language(user, context.services.settings),
    )


def initial_language(user: User, settings: Settings) -> str:
    """The language a customer met for the first time gets: what Telegram says they speak, if Carebot speaks it."""
    return language_from_telegram(user.language_code, settings.default_language)


async def language_of(update: Update, context: Context) -> str:
    """The one rule for the language of an answer. In a group (the staff chat, or one the bot was just added to)
    everyone reads the same text: `CAREBOT_STAFF_LANGUAGE`. In a private chat, customers and staff alike get their
    stored choice (`/language`), else what Telegram says they speak."""
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:
        return context.services.settings.language_of_staff
    user = update.effective_user
    if user is None:
        return context.services.settings.default_language
    async with context.services.sessions() as session:
        customer = await customers.get_customer(session, telegram_id=user.id)
    return customer.language if customer else initial_language(user, context.services.settings)
