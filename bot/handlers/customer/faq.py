"""FAQ first: a question the FAQ answers gets the answer with **This helped** / **Talk to a person**.
(Staff keep the FAQ with `/faq`: bot/handlers/staff/faq_admin.py.)
"""

from __future__ import annotations

import html

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler

from bot.caller import language_of, touch
from bot.context import CarebotApp, Context
from bot.runtime.throttle import auto_replies
from bot.tickets.filing import file_message, incoming_of, to_customer
from bot.ui import callback_data
from bot.ui.i18n import t
from bot.ui.keyboards import button
from bot.ui.splitting import split_text
from storage import faq
from storage.db import transaction
from storage.models import Customer, FaqEntry


def faq_buttons(faq_id: int, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                button(t(lang, "faq.button.helped"), f"faq:helped:{faq_id}"),
                button(t(lang, "faq.button.person"), f"faq:person:{faq_id}"),
            ]
        ]
    )


async def faq_answer(
    session: AsyncSession, context: Context, customer: Customer, question: str, *, chat_id: int
) -> FaqEntry | None:
    """The FAQ entry that answers `question`, if one matches well enough; the hit or miss is counted in the
    caller's transaction.

    A match is not answered when the customer just got this answer or several automatic replies (see
    `bot.runtime.throttle`): None is returned and the question goes to a person instead.
    """
    entries = await faq.list_entries(session, language=customer.language)
    if not entries:
        return None
    match = faq.best_match(entries, question, threshold=context.services.settings.faq_threshold)
    if match is not None and not auto_replies(context.application).allow(chat_id, f"faq:{match.entry.id}"):
        return None  # not a hit either: the customer does not get the answer
    await faq.record_event(session, event="hit" if match else "miss", faq_id=match.entry.id if match else None)
    return match.entry if match is not None and match.entry.id is not None else None


async def send_faq_answer(context: Context, message: Message, entry: FaqEntry, lang: str) -> None:
    """The answer as a reply to the question, with **This helped** / **Talk to a person** under its last part.

    In a business chat the answer comes from the business, plainly: no buttons (a customer who needs a person
    simply writes again, and a repeated answer goes to staff instead).
    """
    assert entry.id is not None
    connection = message.business_connection_id or ""
    parts = split_text(entry.answer)
    for number, part in enumerate(parts, start=1):
        extra: dict[str, object] = {}
        if number == len(parts) and not connection:
            # A reply to the question: **Talk to a person** finds the question it answered there.
            extra = {
                "reply_markup": faq_buttons(entry.id, lang),
                "reply_parameters": ReplyParameters(message.message_id),
            }
        text = html.escape(part, quote=False)
        await to_customer(
            context,
            message.chat_id,
            lambda text=text, extra=extra, **chat: context.bot.send_message(
                text=text, parse_mode=ParseMode.HTML, **extra, **chat
            ),
            business_connection_id=connection,
        )


async def helped(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    lang = await language_of(update, context)
    faq_id = callback_data.FAQ_HELPED.read(query.data).number("faq")
    async with transaction(context.services.sessions) as session:
        await faq.record_event(session, event="helped", faq_id=faq_id)
    await query.answer(t(lang, "faq.helped_thanks"))
    await query.edit_message_reply_markup(None)


async def talk_to_person(update: Update, context: Context) -> None:
    """The question the FAQ answer replied to becomes a ticket, as the customer wrote it."""
    query = update.callback_query
    assert query is not None and query.data is not None
    faq_id = callback_data.FAQ_PERSON.read(query.data).number("faq")
    customer, _ = await touch(update, context)
    answer = query.message
    question = getattr(answer, "reply_to_message", None)
    await query.answer()
    async with transaction(context.services.sessions) as session:
        await faq.record_event(session, event="escalated", faq_id=faq_id)
    if answer is not None and hasattr(answer, "edit_reply_markup"):
        await answer.edit_reply_markup(None)
    incoming = incoming_of(question) if question is not None else None
    if incoming is None:  # the question is gone: ask for it again
        await context.bot.send_message(customer.telegram_id, t(customer.language, "faq.ask_again"), parse_mode="HTML")
        return
    category = "other"
    async with context.services.sessions() as session:
        entries = await faq.list_entries(session)
    category = next((e.category for e in entries if e.id == faq_id), category)
    await file_message(context, customer, incoming, category=category)


def register(app: CarebotApp) -> None:
    app.add_handler(CallbackQueryHandler(helped, pattern=callback_data.FAQ_HELPED))
    app.add_handler(CallbackQueryHandler(talk_to_person, pattern=callback_data.FAQ_PERSON))
