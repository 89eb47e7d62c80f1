"""What nobody else handled: unknown commands get a short help, unknown buttons a short notice."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ApplicationHandlerStop, CallbackQueryHandler, MessageHandler, filters

from bot.caller import language_of
from bot.context import CarebotApp, Context
from bot.handlers.customer import CUSTOMER_CHAT
from bot.runtime.throttle import auto_replies
from bot.ui.i18n import t

FIRST_GROUP = -100


async def unknown_command(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None
    if not auto_replies(context.application).allow(message.chat_id, "unknown_command"):
        return  # the help was just given: a flood of unknown commands gets it once
    lang = await language_of(update, context)
    await message.reply_text(t(lang, "fallback.unknown_command"), parse_mode=ParseMode.HTML)


async def unknown_button(update: Update, context: Context) -> None:
    """A button no handler knows (an old keyboard, or forged data): say so instead of a spinning button."""
    assert update.callback_query is not None
    lang = await language_of(update, context)
    await update.callback_query.answer(t(lang, "fallback.unknown_button"))


def without_data(_data: object) -> bool:
    """As a CallbackQueryHandler pattern: matches only buttons that carry no data (PTB hands a query without
    data, e.g. a game button or a forged one, to every pattern handler; this one takes it first)."""
    return False


async def button_without_data(update: Update, context: Context) -> None:
    await unknown_button(update, context)
    raise ApplicationHandlerStop


def register(app: CarebotApp) -> None:
    app.add_handler(CallbackQueryHandler(button_without_data, pattern=without_data), group=FIRST_GROUP)
    # Group 0, registered last: they run only when no handler before them matched.
    app.add_handler(MessageHandler(filters.COMMAND & CUSTOMER_CHAT, unknown_command))
    app.add_handler(CallbackQueryHandler(unknown_button))
