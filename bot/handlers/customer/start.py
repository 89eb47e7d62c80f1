"""First contact: /start, /language, /whoami and the menu's profile and language buttons."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.auth import staff_role
from bot.caller import language_of, touch
from bot.context import CarebotApp, Context
from bot.handlers.customer import CUSTOMER_CHAT
from bot.handlers.customer.terms import offer_agreement
from bot.tickets.routing import open_inbox
from bot.ui import callback_data
from bot.ui.i18n import t
from bot.ui.keyboards import language_keyboard, main_menu
from storage import customers
from storage.db import transaction
from storage.languages import LANGUAGES


async def start(update: Update, context: Context) -> None:
    customer, _created = await touch(update, context)
    lang = customer.language
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        "\n\n".join(
            [
                greeting(lang, customer.first_name or customer.display_name, context.services.settings.business_name),
                t(lang, "start.privacy_line"),
                t(lang, "start.next_steps"),
            ]
        ),
        parse_mode=ParseMode.HTML,
        reply_markup=main_menu(lang),
    )
    await offer_agreement(context, customer)
    await open_inbox_of_staff(update, context)


async def open_inbox_of_staff(update: Update, context: Context) -> None:
    """A staff member's private chat with the bot is their inbox: assigned tickets arrive here from now on."""
    user = update.effective_user
    if user is None or await staff_role(update, context) is None:
        return
    await open_inbox(context.application, user.id, user.first_name)
    lang = await language_of(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(t(lang, "tickets.inbox.opened"), parse_mode=ParseMode.HTML)


def greeting(lang: str, name: str, business: str) -> str:
    """Hello, naming the business when `CAREBOT_BUSINESS_NAME` is set ("this shop" otherwise)."""
    if business:
        return t(lang, "start.greeting_business", name=name, business=business)
    return t(lang, "start.greeting", name=name)


async def show_menu(update: Update, context: Context) -> None:
    lang = await language_of(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        t(lang, "menu.title"), parse_mode=ParseMode.HTML, reply_markup=main_menu(lang)
    )


async def ask_language(update: Update, context: Context) -> None:
    lang = await language_of(update, context)
    await context.bot.send_message(
        update.effective_chat.id,  # type: ignore[union-attr]
        t(lang, "language.choose"),
        parse_mode=ParseMode.HTML,
        reply_markup=language_keyboard(),
    )


async def choose_language(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    chosen = callback_data.LANGUAGE.read(query.data).word("code")
    if chosen not in LANGUAGES:
        await query.answer()
        return
    customer, _ = await touch(update, context)
    async with transaction(context.services.sessions) as session:
        stored = await customers.get_customer(session, telegram_id=customer.telegram_id)
        assert stored is not None
        stored.language = chosen
        session.add(stored)
    await query.answer()
    await context.bot.send_message(
        query.from_user.id, t(chosen, "language.changed"), parse_mode=ParseMode.HTML, reply_markup=main_menu(chosen)
    )


async def whoami(update: Update, context: Context) -> None:
    lang = await language_of(update, context)
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    assert user is not None and chat is not None and message is not None
    text: str = t(lang, "whoami.user", user_id=user.id)
    if chat.type != ChatType.PRIVATE:
        text += "\n" + t(lang, "whoami.chat", chat_id=chat.id)
    await message.reply_text(text, parse_mode=ParseMode.HTML)


async def menu_language(update: Update, context: Context) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer()
    await ask_language(update, context)


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("start", start, filters=CUSTOMER_CHAT))
    app.add_handler(CommandHandler("menu", show_menu, filters=CUSTOMER_CHAT))
    app.add_handler(CommandHandler("language", ask_language, filters=CUSTOMER_CHAT))
    app.add_handler(CommandHandler("whoami", whoami))
    app.add_handler(CallbackQueryHandler(choose_language, pattern=callback_data.LANGUAGE))
    app.add_handler(CallbackQueryHandler(menu_language, pattern=callback_data.MENU_LANGUAGE))
