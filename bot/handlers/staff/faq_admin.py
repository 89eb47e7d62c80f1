"""Staff keep the FAQ: `/faq add LANG [CATEGORY]` + questions + answer, `/faq list [LANG]`, `/faq remove ID`."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import CommandHandler

from bot.auth import staff_only
from bot.caller import language_of
from bot.context import CarebotApp, Context
from bot.ui.i18n import Safe, t
from bot.ui.numbers import record_number
from bot.ui.splitting import split_text
from storage import faq
from storage.db import transaction
from storage.faq import FaqFileError
from storage.models import Role


@staff_only(Role.AGENT)
async def faq_command(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    lang = await language_of(update, context)
    first_line, _, body = message.text.partition("\n")
    words = first_line.split()[1:]
    action = words[0].lower() if words else ""
    if action == "add":
        reply = await _add(context, words[1:], body, lang)
    elif action == "list":
        reply = await _list(context, words[1:], lang)
    elif action == "remove" and len(words) == 2 and (faq_id := record_number(words[1])) is not None:
        async with transaction(context.services.sessions) as session:
            removed = await faq.remove_entry(session, faq_id=faq_id)
        reply = t(lang, "faq.removed" if removed else "faq.not_found", id=faq_id)
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
