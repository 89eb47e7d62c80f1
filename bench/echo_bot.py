"""The inbound benchmark's baseline: a bare python-telegram-bot echo bot, as the library's examples write it.

    python bench/echo_bot.py TOKEN BASE_URL

Sequential (the library's default: one update at a time), long polling with `Application.run_polling()`'s
defaults; stores nothing. Stops on SIGTERM.
"""

from __future__ import annotations

import sys

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


def main() -> None:
    token, base_url = sys.argv[1], sys.argv[2]
    app = Application.builder().token(token).base_url(base_url).build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.run_polling()


if __name__ == "__main__":
    main()
