"""What nobody else handled: unknown commands get a short help, other kinds of updates a polite answer."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import MessageHandler, filters

from bot.context import CarebotApp, Context
from bot.customers import language_of
from bot.i18n import t


async def unknown_command(update: Update, context: Context) -> None:
    lang = await language_of(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(t(lang, "fallback.unknown_command"), parse_mode=ParseMode.HTML)


def register(app: CarebotApp) -> None:
    # Group 0, registered last: it runs only when no command handler before it matched.
    app.add_handler(MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, unknown_command))
