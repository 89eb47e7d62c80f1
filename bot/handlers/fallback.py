"""What nobody else handled: unknown commands get a short help, unknown buttons a short notice."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.context import CarebotApp, Context
from bot.customers import language_of
from bot.i18n import t


async def unknown_command(update: Update, context: Context) -> None:
    lang = await language_of(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(t(lang, "fallback.unknown_command"), parse_mode=ParseMode.HTML)


async def unknown_button(update: Update, context: Context) -> None:
    """A button no handler knows (an old keyboard, or forged data): say so instead of a spinning button."""
    assert update.callback_query is not None
    lang = await language_of(update, context)
    await update.callback_query.answer(t(lang, "fallback.unknown_button"))


def register(app: CarebotApp) -> None:
    # Group 0, registered last: they run only when no handler before them matched.
    app.add_handler(MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, unknown_command))
    app.add_handler(CallbackQueryHandler(unknown_button))
