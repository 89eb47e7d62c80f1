"""FAQ first: a question the FAQ answers gets the answer with **This helped** / **Talk to a person**;
staff keep the FAQ with `/faq add|list|remove`.
"""

from __future__ import annotations

import html

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.auth import staff_only
from bot.caller import language_of, touch
from bot.context import CarebotApp, Context
from bot.runtime.throttle import auto_replies
from bot.tickets.filing import file_message, incoming_of
from bot.ui.i18n import Safe, t
from bot.ui.keyboards import button
from bot.ui.splitting import split_text
from storage import faq
from storage.db import transaction
from storage.faq import FaqFileError
from storage.models import Customer, FaqEntry, Role


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


async def send_faq_answer(message: Message, entry: FaqEntry, lang: str) -> None:
    """The answer as a reply to the question, with **This helped** / **Talk to a person** under its last part."""
    assert entry.id is not None
    *leading, last = split_text(entry.answer)
    for part in leading:
        await message.reply_text(html.escape(part, quote=False), parse_mode=ParseMode.HTML)
    # A reply to the question: **Talk to a person** finds the question it answered there.
    await message.reply_text(
        html.escape(last, quote=False),
        parse_mode=ParseMode.HTML,
        reply_markup=faq_buttons(entry.id, lang),
        do_quote=True,
    )


async def helped(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    lang = await language_of(update, context)
    faq_id = _id_of(query.data)
    async with transaction(context.services.sessions) as session:
        await faq.record_event(session, event="helped", faq_id=faq_id)
    await query.answer(t(lang, "faq.helped_thanks"))
    await query.edit_message_reply_markup(None)


async def talk_to_person(update: Update, context: Context) -> None:
    """The question the FAQ answer replied to becomes a ticket, as the customer wrote it."""
    query = update.callback_query
    assert query is not None and query.data is not None
    customer, _ = await touch(update, context)
    answer = query.message
    question = getattr(answer, "reply_to_message", None)
    await query.answer()
    async with transaction(context.services.sessions) as session:
        await faq.record_event(session, event="escalated", faq_id=_id_of(query.data))
    if answer is not None and hasattr(answer, "edit_reply_markup"):
        await answer.edit_reply_markup(None)
    incoming = incoming_of(question) if question is not None else None
    if incoming is None:  # the question is gone: ask for it again
        await context.bot.send_message(customer.telegram_id, t(customer.language, "faq.ask_again"), parse_mode="HTML")
        return
    category = "other"
    async with context.services.sessions() as session:
        entries = await faq.list_entries(session)
    category = next((e.category for e in entries if e.id == _id_of(query.data)), category)
    await file_message(context, customer, incoming, category=category)


def _id_of(data: str) -> int | None:
    tail = data.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


# ---------------------------------------------------------------- staff: /faq add|list|remove


@staff_only(Role.AGENT)
async def faq_command(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    lang = context.services.settings.default_language
    first_line, _, body = message.text.partition("\n")
    words = first_line.split()[1:]
    action = words[0].lower() if words else ""
    if action == "add":
        reply = await _add(context, words[1:], body, lang)
    elif action == "list":
        reply = await _list(context, words[1:], lang)
    elif action == "remove" and len(words) == 2 and words[1].lstrip("#").isdigit():
        async with transaction(context.services.sessions) as session:
            removed = await faq.remove_entry(session, faq_id=int(words[1].lstrip("#")))
        reply = t(lang, "faq.removed" if removed else "faq.not_found", id=words[1].lstrip("#"))
    else:
        reply = t(lang, "faq.usage")
    for part in _chunks(reply):
        await message.reply_text(part, parse_mode=ParseMode.HTML)


async def _add(context: Context, words: list[str], body: str, lang: str) -> str:
    questions, _, answer = body.strip().partition("\n")
    try:
        entry = faq.validate_entry(
            language=words[0] if words else "",
            category=words[1] if len(words) > 1 else "other",
            questions=questions,
            answer=answer,
        )
    except FaqFileError as error:
        return t(lang, "faq.invalid", reason=str(error)) + "\n\n" + t(lang, "faq.usage")
    async with transaction(context.services.sessions) as session:
        stored = await faq.add_entry(session, entry=entry)
    return t(lang, "faq.added", id=stored.id, language=entry.language, category=entry.category)


async def _list(context: Context, words: list[str], lang: str) -> str:
    async with context.services.sessions() as session:
        entries = await faq.list_entries(session, language=words[0] if words else None)
        counts = await faq.event_counts(session)
    if not entries:
        return t(lang, "faq.list.empty")
    lines = [t(lang, "faq.list.title", count=len(entries))]
    for entry in entries:
        seen = counts.get(entry.id, {})
        lines.append(
            t(
                lang,
                "faq.list.item",
                id=entry.id,
                language=entry.language,
                category=entry.category,
                question=_short(" | ".join(faq.questions_of(entry))),
                hits=seen.get("hit", 0),
                helped=seen.get("helped", 0),
                escalated=seen.get("escalated", 0),
            )
        )
    misses = counts.get(None, {}).get("miss", 0)
    lines.append(t(lang, "faq.list.misses", misses=misses))
    return "\n".join(lines)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chunks(text: str) -> list[Safe]:
    """Split an HTML reply between lines (each line is complete HTML on its own)."""
    return [Safe(part) for part in split_text(text)]


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("faq", faq_command))
    app.add_handler(CallbackQueryHandler(helped, pattern=r"^faq:helped:"))
    app.add_handler(CallbackQueryHandler(talk_to_person, pattern=r"^faq:person:"))
