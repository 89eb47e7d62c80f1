"""A customer's rights: /privacy (what is stored, why, how long), /mydata (all of it as a JSON file), /forget.

/forget asks first; the button carries the time it was shown and expires, so an old message cannot erase anything
by accident. It only ever erases the data of the person who presses it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Sequence

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.caller import language_of
from bot.context import CarebotApp, Context
from bot.handlers.customer import CUSTOMER_CHAT
from bot.tickets.views import staff_language
from bot.ui import callback_data
from bot.ui.i18n import t
from bot.ui.keyboards import button
from storage import customers, privacy

log = logging.getLogger(__name__)

FORGET_BUTTON_SECONDS = 3600
MAX_TEXT = 4096
DELETE_BATCH = 100  # deleteMessages takes at most 100 ids


async def show_privacy(update: Update, context: Context) -> None:
    lang = await language_of(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(t(lang, "privacy.policy"), parse_mode=ParseMode.HTML)


async def send_my_data(update: Update, context: Context) -> None:
    lang = await language_of(update, context)
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    async with context.services.sessions() as session:
        customer = await customers.get_customer(session, telegram_id=user.id)
        document = (
            None
            if customer is None or customer.id is None
            else await privacy.export_customer_data(session, customer_id=customer.id)
        )
    if document is None:
        await message.reply_text(t(lang, "privacy.nothing_stored"), parse_mode=ParseMode.HTML)
        return
    await message.reply_document(
        privacy.export_json(document),
        filename="my-data.json",
        caption=t(lang, "privacy.mydata_caption"),
        parse_mode=ParseMode.HTML,
    )


def forget_keyboard(lang: str, shown_at: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [button(t(lang, "privacy.forget_button"), f"privacy:forget:{shown_at}")],
            [button(t(lang, "privacy.keep_button"), "privacy:keep")],
        ]
    )


async def ask_forget(update: Update, context: Context) -> None:
    lang = await language_of(update, context)
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    async with context.services.sessions() as session:
        customer = await customers.get_customer(session, telegram_id=user.id)
    if customer is None:
        await message.reply_text(t(lang, "privacy.nothing_stored"), parse_mode=ParseMode.HTML)
        return
    await message.reply_text(
        t(lang, "privacy.forget_confirm"),
        parse_mode=ParseMode.HTML,
        reply_markup=forget_keyboard(lang, int(time.time())),
    )


def _fresh(shown_at: int) -> bool:
    age = time.time() - shown_at
    return -60 <= age <= FORGET_BUTTON_SECONDS


async def forget_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    lang = await language_of(update, context)
    pressed = callback_data.PRIVACY.read(query.data)
    action = pressed.word("action")
    in_private = query.message is not None and query.message.chat.type == ChatType.PRIVATE
    if action == "keep":
        await query.answer()
        await _drop_buttons(query)
        await context.bot.send_message(query.from_user.id, t(lang, "privacy.kept"), parse_mode=ParseMode.HTML)
        return
    if not in_private or not _fresh(pressed.number("shown_at")):
        await query.answer(t(lang, "privacy.button_expired"), show_alert=True)
        return
    await query.answer()
    async with context.services.sessions() as session:
        customer = await customers.get_customer(session, telegram_id=query.from_user.id)
    # This very update names the customer too: its stored copy goes with the rest.
    erasure = (
        None
        if customer is None or customer.id is None
        else await privacy.erase_customer(
            context.services.sessions, customer_id=customer.id, update_id=update.update_id
        )
    )
    await _drop_buttons(query)
    if erasure is None:
        await context.bot.send_message(query.from_user.id, t(lang, "privacy.nothing_stored"), parse_mode=ParseMode.HTML)
        return
    log.info("customer %d erased their data; %d tickets closed", erasure.customer_id, len(erasure.closed_tickets))
    await context.bot.send_message(query.from_user.id, t(lang, "privacy.erased"), parse_mode=ParseMode.HTML)
    await tell_staff(context, erasure)
    await remove_staff_copies(context, erasure)


async def _drop_buttons(query: object) -> None:
    """Take the buttons off the confirmation, so it cannot be pressed again (it may be gone already)."""
    with contextlib.suppress(TelegramError):
        await query.edit_message_reply_markup(reply_markup=None)  # type: ignore[attr-defined]


async def tell_staff(context: Context, erasure: privacy.Erasure) -> None:
    """One line per closed ticket in the staff chat: the ticket number only, no personal data."""
    chat_id = context.services.settings.staff_chat_id
    if chat_id is None or not erasure.closed_tickets:
        return
    lang = staff_language(context.services.settings)
    lines = [t(lang, "privacy.staff_ticket_closed", number=n) for n in erasure.closed_tickets]
    for text in chunks(lines, MAX_TEXT):
        try:
            await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
        except TelegramError as error:
            log.warning("could not tell the staff chat about an erasure (%s)", type(error).__name__)
            return


def chunks(lines: Sequence[str], limit: int) -> list[str]:
    """Lines joined into as few messages as fit in `limit` characters each."""
    messages: list[str] = []
    for line in lines:
        if messages and len(messages[-1]) + 1 + len(line) <= limit:
            messages[-1] += "\n" + line
        else:
            messages.append(line[:limit])
    return messages


async def remove_staff_copies(context: Context, erasure: privacy.Erasure) -> None:
    """Best effort: delete the bot's copies of the customer's messages and ticket cards in staff chats, and
    rename per-ticket topics to the bare number. Telegram refuses deletions of messages older than 48 hours."""
    by_chat: dict[int, list[int]] = defaultdict(list)
    for copy in erasure.staff_copies:
        by_chat[copy.chat_id].append(copy.message_id)
    for chat_id, ids in by_chat.items():
        for start in range(0, len(ids), DELETE_BATCH):
            try:
                await context.bot.delete_messages(chat_id, ids[start : start + DELETE_BATCH])
            except TelegramError as error:
                log.info("could not delete staff copies in chat %d (%s)", chat_id, type(error).__name__)
    for topic in erasure.staff_topics:
        try:
            await context.bot.edit_forum_topic(topic.chat_id, topic.thread_id, name=f"#{topic.ticket_id}")
        except TelegramError as error:
            log.info("could not rename topic of ticket #%d (%s)", topic.ticket_id, type(error).__name__)


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("privacy", show_privacy, filters=CUSTOMER_CHAT))
    app.add_handler(CommandHandler("mydata", send_my_data, filters=CUSTOMER_CHAT))
    app.add_handler(CommandHandler("forget", ask_forget, filters=CUSTOMER_CHAT))
    app.add_handler(CallbackQueryHandler(forget_button, pattern=callback_data.PRIVACY))
